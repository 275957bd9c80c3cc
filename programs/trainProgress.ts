import { trainerContract } from "../config/trainerContract";
import { mlflowTags } from "../components/shared/studySpec";
import { quoteKey, quoteString } from "../components/registry/searchQuery";
import type { Run, SearchRunsPage, SearchRunsRequest } from "../components/registry/mlflowTypes";

/**
 * How far a train phase is, for the driver to print while the workers run. Workers write it after
 * every trial as metrics on the study run (images/trainer/worker.py, PROGRESS_METRICS), so reading
 * it costs one `runs/search` for one run, whatever the study's size.
 */
export interface TrainProgress {
  readonly finished: number;
  readonly pruned: number;
  readonly failed: number;
  readonly running: number;
  /** Trials the study runs in all. */
  readonly budget: number;
  /** Folds fitted so far: a pruned trial costs only the folds it ran. */
  readonly foldFits: number;
}

/** The study run's metric names (config/trainerContract.json; the trainer logs them: images/trainer/worker.py). */
export const progressMetrics = trainerContract.progressMetrics satisfies Record<keyof TrainProgress, string>;

/** Undefined until a worker has reported its first trial. */
export function progressFromRun(run: Run): TrainProgress | undefined {
  const metrics = new Map((run.data.metrics ?? []).map((m) => [m.key, m.value]));
  if (!metrics.has(progressMetrics.budget)) return undefined;
  const read = (name: string) => {
    const value = metrics.get(name);
    return typeof value === "number" ? value : 0;
  };
  return {
    finished: read(progressMetrics.finished),
    pruned: read(progressMetrics.pruned),
    failed: read(progressMetrics.failed),
    running: read(progressMetrics.running),
    budget: read(progressMetrics.budget),
    foldFits: read(progressMetrics.foldFits),
  };
}

/** `1h 02m`, `4m 05s`, `9s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * One line such as `trials 7/20 (5 finished, 1 pruned, 1 failed; 2 running), 31 fold fits, ETA 2m 10s`.
 * The ETA assumes the remaining trials take as long on average as the settled ones did.
 */
export function formatTrainProgress(progress: TrainProgress | undefined, elapsedSeconds: number): string {
  if (progress === undefined) return `trials: waiting for the first result (${formatDuration(elapsedSeconds)} elapsed)`;
  const settled = progress.finished + progress.pruned + progress.failed;
  const counts = `${progress.finished} finished, ${progress.pruned} pruned, ${progress.failed} failed${progress.running > 0 ? `; ${progress.running} running` : ""}`;
  const remaining = Math.max(0, progress.budget - settled);
  const eta = remaining === 0 ? "all settled" : settled === 0 ? "ETA unknown" : `ETA ${formatDuration((elapsedSeconds / settled) * remaining)}`;
  return `trials ${settled}/${progress.budget} (${counts}), ${progress.foldFits} fold fits, ${eta}`;
}

/** The one call the driver needs: the study run of `studyId`, or undefined before `prepare` made it. */
export async function readTrainProgress(
  client: { searchRuns(request: SearchRunsRequest): Promise<SearchRunsPage> },
  experimentId: string,
  studyId: string,
): Promise<TrainProgress | undefined> {
  const filter = `${quoteKey("tags", mlflowTags.studyId)} = ${quoteString(studyId)} and ${quoteKey("tags", mlflowTags.role)} = 'study'`;
  const page = await client.searchRuns({ experimentIds: [experimentId], filter, orderBy: ["attributes.start_time ASC"], maxResults: 1 });
  const run = page.runs[0];
  return run === undefined ? undefined : progressFromRun(run);
}
