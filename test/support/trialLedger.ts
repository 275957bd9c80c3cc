import { type MlflowRun, tag } from "./mlflowRest";
import type { TrialRow } from "./stores";

/**
 * "0 lost, 0 duplicated" in numbers: how the study's runs in the database compare with the trial
 * keys the config expands to. A test expects every list empty and `finished` = the trial count.
 */
export interface TrialLedger {
  readonly finished: number;
  /** Expected keys without a FINISHED run. */
  readonly missing: string[];
  /** Keys with more than one FINISHED run. */
  readonly duplicated: string[];
  /** Runs of the study that are not FINISHED (RUNNING leftovers, FAILED attempts). */
  readonly unfinished: string[];
  /** FINISHED runs whose key the config does not expand to. */
  readonly unexpected: string[];
}

export function trialLedger(rows: readonly TrialRow[], expectedKeys: readonly string[]): TrialLedger {
  const finishedPerKey = new Map<string, number>();
  for (const row of rows) if (row.status === "FINISHED") finishedPerKey.set(row.trialKey, (finishedPerKey.get(row.trialKey) ?? 0) + 1);
  const expected = new Set(expectedKeys);
  return {
    finished: rows.filter((r) => r.status === "FINISHED").length,
    missing: expectedKeys.filter((k) => !finishedPerKey.has(k)),
    duplicated: [...finishedPerKey].filter(([, n]) => n > 1).map(([k]) => k),
    unfinished: rows.filter((r) => r.status !== "FINISHED").map((r) => `${r.runId} (${r.status}, key ${r.trialKey})`),
    unexpected: [...finishedPerKey.keys()].filter((k) => !expected.has(k)),
  };
}

/** A study's runs as read through MLflow's REST API, as ledger rows: run id, status, trial key, worker. */
export const trialRowsOf = (runs: readonly MlflowRun[]): TrialRow[] =>
  runs.map((r) => ({ runId: r.info.run_id, status: r.info.status, trialKey: tag(r, "mlops.trial_key") ?? "", worker: Number(tag(r, "mlops.worker_index") ?? -1) }));
