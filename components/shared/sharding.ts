import type { ShardSpec } from "./studySpec";

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

/**
 * What every platform's fan-out needs of its shards: at least one, no more than the workers, all of one
 * study. Returns that study's id.
 */
export function validateShards(shards: readonly Pick<ShardSpec, "studyId">[], workers: number): string {
  const first = shards[0];
  if (first === undefined) throw new Error("training fan-out got no shards: the search space expanded to no trials");
  if (shards.length > workers) throw new Error(`training fan-out got ${shards.length} shards for ${workers} workers: shards must not outnumber training.workers`);
  if (shards.some((s) => s.studyId !== first.studyId)) throw new Error("training fan-out got shards of different studies: build them from one training config");
  return first.studyId;
}
