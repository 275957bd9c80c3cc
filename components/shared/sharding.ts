/**
 * Round-robin sharding: worker k runs trial i when i % workers == k, so shards differ in size by at
 * most one and a trial's worker follows from its index alone.
 *
 * With fewer trials than workers, only `trials` workers run (one trial each): an idle worker would
 * cost a container or a Job completion for nothing. `effectiveWorkers` says how many run.
 */

export function effectiveWorkers(trialCount: number, workers: number): number {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`expected workers to be an integer >= 1, got ${workers}`);
  return Math.min(workers, trialCount);
}

/** `effectiveWorkers(trials.length, workers)` shards, none empty; no shards when there are no trials. */
export function shardTrials<T>(trials: readonly T[], workers: number): T[][] {
  const count = effectiveWorkers(trials.length, workers);
  const shards: T[][] = Array.from({ length: count }, () => []);
  trials.forEach((trial, i) => {
    shards[i % count].push(trial);
  });
  return shards;
}
