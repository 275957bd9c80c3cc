import { mlflowTags } from "../components/shared/studySpec";
import type { MlflowClient } from "../components/registry/mlflowClient";
import type { KeyValue, MetricInput } from "../components/registry/mlflowTypes";

/**
 * Fills an MLflow experiment with synthetic trial runs the way the trainer logs them (same tags,
 * metric and param names), over the REST API: create, one log-batch, finish. Used by the
 * selection benchmark and the selection integration test.
 */

export interface SyntheticTrial {
  readonly metrics: Readonly<Record<string, number>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly status?: "FINISHED" | "FAILED" | "RUNNING";
  readonly role?: string;
  readonly modelSource?: string;
  readonly runName?: string;
}

export interface FillOptions {
  readonly client: MlflowClient;
  readonly experimentId: string;
  readonly studyId: string;
  /** Requests in flight at once. */
  readonly concurrency?: number;
  /** Called after each run with (done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Logs the trials; trial i starts i ms after the first, whatever the concurrency. Returns their run ids. */
export async function fillStudy(options: FillOptions, trials: readonly SyntheticTrial[]): Promise<string[]> {
  const { client, experimentId, studyId } = options;
  const firstStart = Date.now();
  const runIds: string[] = new Array(trials.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let index = next++; index < trials.length; index = next++) {
      const trial = trials[index] as SyntheticTrial;
      const startTime = firstStart + index;
      const tags: KeyValue[] = [
        { key: mlflowTags.studyId, value: studyId },
        { key: mlflowTags.role, value: trial.role ?? "trial" },
        { key: mlflowTags.trialIndex, value: String(index) },
        { key: mlflowTags.trialKey, value: `${studyId}-${index}` },
      ];
      if (trial.modelSource) tags.push({ key: mlflowTags.modelSource, value: trial.modelSource });
      const info = await client.createRun({ experimentId, runName: trial.runName ?? `trial-${index}`, startTime, tags });
      const metrics: MetricInput[] = Object.entries(trial.metrics).map(([key, value]) => ({ key, value, timestamp: startTime, step: 0 }));
      const params: KeyValue[] = Object.entries(trial.params ?? {}).map(([key, value]) => ({ key, value }));
      await client.logBatch(info.run_id, { metrics, params });
      if ((trial.status ?? "FINISHED") !== "RUNNING") await client.updateRun(info.run_id, trial.status ?? "FINISHED");
      runIds[index] = info.run_id;
      options.onProgress?.(++done, trials.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  return runIds;
}

/** Deterministic pseudo-random numbers (mulberry32), so a filled study is the same every time. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
