import { describe, expect, it } from "vitest";
import type { MlflowRun } from "../support/mlflowRest";
import { trialLedger, trialRowsOf } from "../support/trialLedger";

const run = (id: string, status: string, key: string): MlflowRun => ({
  info: { run_id: id, status },
  data: {
    tags: [
      { key: "mlops.trial_key", value: key },
      { key: "mlops.worker_index", value: "0" },
    ],
  },
});
const complete = (keys: string[]) => ({ finished: keys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });

describe("trialLedger (0 lost, 0 duplicated)", () => {
  const keys = ["a", "b", "c"];

  it("is complete when each expected key has exactly one FINISHED run", () => {
    expect(trialLedger(trialRowsOf([run("1", "FINISHED", "a"), run("2", "FINISHED", "b"), run("3", "FINISHED", "c")]), keys)).toEqual(complete(keys));
  });

  it("does not let a duplicated FINISHED run stand in for a missing one (same run count, same key set size)", () => {
    const ledger = trialLedger(trialRowsOf([run("1", "FINISHED", "a"), run("2", "FINISHED", "a"), run("3", "FINISHED", "b")]), keys);
    expect(ledger).toEqual({ finished: 3, missing: ["c"], duplicated: ["a"], unfinished: [], unexpected: [] });
    expect(ledger).not.toEqual(complete(keys));
  });

  it("names RUNNING or FAILED leftovers and keys the config does not expand to", () => {
    const ledger = trialLedger(
      trialRowsOf([run("1", "FINISHED", "a"), run("2", "FINISHED", "b"), run("3", "FINISHED", "c"), run("4", "RUNNING", "c"), run("5", "FINISHED", "z")]),
      keys,
    );
    expect(ledger).toEqual({ finished: 4, missing: [], duplicated: [], unfinished: ["4 (RUNNING, key c)"], unexpected: ["z"] });
  });
});
