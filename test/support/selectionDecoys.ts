import type { MlflowRest } from "./mlflowRest";

/**
 * Decoys for "a pruned trial is never selected": trial runs of the study, put in through MLflow's REST
 * API, that carry metrics better than every real trial's but are not FINISHED trials: one pruned trial
 * (KILLED, `mlops.pruned=true`) and one FAILED trial. If select ignored the run status or pruning, it
 * would pick one of them; the test asserts the champion is none of them, then removes them so the rest
 * of the study's checks see only real runs.
 */

export interface Decoy {
  readonly runId: string;
  readonly status: "KILLED" | "FAILED";
  readonly pruned: boolean;
}

/** Tag on every decoy, so a reader can tell them from the trainer's runs. */
export const decoyTag = "mlops.test_decoy";

export async function plantDecoys(mlflow: MlflowRest, experimentName: string, studyId: string, metrics: Readonly<Record<string, number>>): Promise<Decoy[]> {
  const { experiment } = await mlflow.call<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${encodeURIComponent(experimentName)}`);
  const kinds: Omit<Decoy, "runId">[] = [
    { status: "KILLED", pruned: true },
    { status: "FAILED", pruned: false },
  ];
  const decoys: Decoy[] = [];
  for (const kind of kinds) {
    const now = Date.now();
    const name = `decoy-${kind.pruned ? "pruned" : kind.status.toLowerCase()}`;
    const tags = { "mlops.study_id": studyId, "mlops.role": "trial", "mlops.trial_key": name, "mlops.pruned": String(kind.pruned), [decoyTag]: "true" };
    const { run } = await mlflow.call<{ run: { info: { run_id: string } } }>("runs/create", {
      experiment_id: experiment.experiment_id,
      run_name: name,
      start_time: now,
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    });
    const runId = run.info.run_id;
    await mlflow.call("runs/log-batch", { run_id: runId, metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: now, step: 0 })) });
    await mlflow.call("runs/update", { run_id: runId, status: kind.status, end_time: Date.now() });
    decoys.push({ runId, ...kind });
  }
  return decoys;
}

/** Deletes the decoys (MLflow's soft delete: searches no longer return them). */
export async function removeDecoys(mlflow: MlflowRest, decoys: readonly Decoy[]): Promise<void> {
  for (const decoy of decoys) await mlflow.call("runs/delete", { run_id: decoy.runId });
}
