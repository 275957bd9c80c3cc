/**
 * Adaptive search through the driver on the local platform, for real: TPE with median pruning on the
 * shared queue (2 workers), a content-addressed study (new data at the same path is a new study, the
 * same data trains nothing), and a study in which every trial fails stopping the pipeline before select.
 * It runs under its own stack (`e2e-search`, a copy of Pulumi.local.yaml on other ports) and skips deploy:
 * serving is covered by localPipeline.test.ts. MLflow is read through its REST API, not the code under test.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMetricsConfig, metricsConfigPath } from "../../config";
import { metric, MlflowRest, type MlflowRun, tag } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { decoyTag, plantDecoys, removeDecoys } from "../support/selectionDecoys";
import { testPorts } from "../support/testPorts";

const stack = new TestStack("e2e-search");
const ports = testPorts("test/e2e/searchPipeline.test.ts");
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`);
const dataFile = `.pipeline/${stack.name}/data.csv`;
const budget = 10;

/**
 * The parity of three features' signs: a depth-1 or depth-2 forest is no better than chance, a deep one
 * is good, so a shallow trial falls below the median after its first fold and is pruned.
 */
function writeParityData(seed: number, rows = 600): void {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 0x1_0000_0000) * 2 - 1;
  };
  const lines = ["f0,f1,f2,f3,f4,target"];
  for (let i = 0; i < rows; i++) {
    const f = Array.from({ length: 5 }, uniform);
    const [a = 0, b = 0, c = 0] = f;
    lines.push(`${f.map((v) => v.toFixed(5)).join(",")},${a * b * c > 0 ? 1 : 0}`);
  }
  const file = path.join(repoRoot, dataFile);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
}

const tpeTraining = {
  estimator: "random_forest",
  searchSpace: { n_estimators: { type: "int", low: 5, high: 25 }, max_depth: { values: [1, 2, 12] } },
  strategy: { kind: "tpe", trials: budget, seed: 3 },
  pruning: { kind: "median", afterFolds: 1, warmupTrials: 2 },
  cvFolds: 3,
  workers: 2,
  retries: 0,
  dataset: { source: dataFile, target: "target" },
};

function writeStack(training: Record<string, unknown>): void {
  stack.write(
    {
      tracking: stack.embeddedTracking(ports.mlflow),
      training,
      serving: { port: ports.replica, loadBalancerPort: ports.lb },
    },
    "test/e2e/searchPipeline.test.ts",
  );
}

/** The stack's MLflow store, data and trial queues: each run of this file starts from nothing. */
function forgetStack(): void {
  fs.rmSync(path.join(repoRoot, ".pipeline", stack.name), { recursive: true, force: true });
  const studies = path.join(repoRoot, ".pipeline", "studies");
  for (const dir of fs.existsSync(studies) ? fs.readdirSync(studies) : []) if (dir.startsWith(`${stack.name}-`)) fs.rmSync(path.join(studies, dir), { recursive: true });
}

const isPruned = (r: MlflowRun) => tag(r, "mlops.pruned") === "true";

/** What the workers counted on the study run (Optuna's view: every trial the budget paid for). */
async function settledTrials(experimentName: string, studyId: string): Promise<number> {
  const { experiment } = await mlflow.call<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${encodeURIComponent(experimentName)}`);
  const { runs = [] } = await mlflow.call<{ runs?: MlflowRun[] }>("runs/search", { experiment_ids: [experiment.experiment_id], max_results: 1000 });
  const study = runs.find((r) => tag(r, "mlops.study_id") === studyId && tag(r, "mlops.role") === "study");
  return ["progress_finished", "progress_pruned", "progress_failed"].reduce((sum, key) => sum + (study ? (metric(study, key) ?? 0) : 0), 0);
}

/**
 * The budget is spent (Optuna) and MLflow holds one run per distinct trial, each FINISHED or pruned:
 * TPE may sample a point twice, which the trainer skips by trial key instead of training it again.
 */
async function expectSpentStudy(studyId: string): Promise<MlflowRun[]> {
  expect(await settledTrials(experiment(), studyId)).toBe(budget);
  const runs = await mlflow.studyRuns(experiment(), studyId);
  expect(new Set(runs.map((r) => tag(r, "mlops.trial_key"))).size).toBe(runs.length);
  expect(runs.every((r) => r.info.status === "FINISHED" || (isPruned(r) && r.info.status === "KILLED"))).toBe(true);
  expect(runs.length).toBeGreaterThanOrEqual(budget / 2);
  return runs;
}
const experiment = () => stack.config().training.experimentName;

const canRun = canRunPipelineSuite("searchPipeline e2e", { services: false });

describe.skipIf(!canRun)("TPE + median pruning, content-addressed studies and failing studies through the driver (local platform)", () => {
  const metrics = loadMetricsConfig(metricsConfigPath(repoRoot));
  let studyId = "";

  beforeAll(async () => {
    writeStack(tpeTraining);
    await stack.make("mlflow-remove"); // a previous run killed half-way leaves nothing behind
    forgetStack();
    writeParityData(1);
    const init = await stack.driver(["--phase", "init"]);
    expect(init.status, init.output).toBe(0);
  });

  afterAll(async () => {
    const removed = await stack.remove();
    forgetStack();
    expect(removed.status).toBe(0);
  });

  it("spends the budget on 2 workers with pruned trials recorded as KILLED, and shows progress while it trains", async () => {
    const train = await stack.driver(["--phase", "train"]);
    expect(train.status, train.output).toBe(0);
    const record = phase(stack.lastRun(), "train");
    studyId = String(record.detail?.studyId);
    const runs = await expectSpentStudy(studyId);
    const pruned = runs.filter(isPruned);
    expect(pruned.length, `states: ${runs.map((r) => `${r.info.status}/${tag(r, "mlops.pruned")}`).join(" ")}`).toBeGreaterThan(0);
    for (const r of pruned) {
      expect(r.info.status).toBe("KILLED");
      expect(metric(r, "cv_f1_macro_mean")).toBeUndefined(); // only a partial mean: never a full CV result
      expect(Number(tag(r, "mlops.pruned_at_fold"))).toBeLessThan(3);
    }
    // The poller writes a line at least every 10 s while `up` runs (waiting, MLflow not up, or counts).
    const lines = train.output.split("\n").filter((l) => /\[2\/4 train\] trials/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(Math.floor(record.seconds / 10) - 1);
    for (const l of lines) expect(l).toMatch(/trials( \d+\/10 \(\d+ finished, \d+ pruned, \d+ failed.*\)|: waiting|: MLflow not answering)/);
  });

  it("never selects a pruned or failed trial as the champion, even one carrying the best full CV mean", async () => {
    // Decoys that beat every real trial on the order metric, its tie-breakers and every filter and threshold:
    // a pruned (KILLED) run and a FAILED run. Select would pick one if it ignored status or pruning.
    const real = await mlflow.studyRuns(experiment(), studyId);
    const bestReal = Math.max(...real.map((r) => metric(r, "cv_f1_macro_mean") ?? 0));
    const decoys = await plantDecoys(mlflow, experiment(), studyId, { cv_f1_macro_mean: 1, cv_f1_macro_std: 0, test_f1_macro: 1, fit_time_seconds: 0 });
    try {
      expect(bestReal, "a decoy must beat every real trial").toBeLessThanOrEqual(1);
      const select = await stack.driver(["--phase", "select"]);
      expect(select.status, select.output).toBe(0);
      const champion = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
      expect(decoys.map((d) => d.runId)).not.toContain(champion.run_id);
      const runs = (await mlflow.studyRuns(experiment(), studyId)).filter((r) => tag(r, decoyTag) !== "true");
      const run = runs.find((r) => r.info.run_id === champion.run_id);
      expect(run?.info.status).toBe("FINISHED");
      expect(tag(run as MlflowRun, "mlops.pruned")).toBe("false");
      const best = Math.max(...runs.filter((r) => r.info.status === "FINISHED").map((r) => metric(r, "cv_f1_macro_mean") ?? 0));
      expect(metric(run as MlflowRun, "cv_f1_macro_mean")).toBe(best);
    } finally {
      await removeDecoys(mlflow, decoys);
    }
  });

  it("trains nothing again on the same data, and a new study on new data at the same path", async () => {
    const before = await mlflow.studyRuns(experiment(), studyId);
    const same = await stack.driver(["--phase", "train"]);
    expect(same.status, same.output).toBe(0);
    expect(phase(stack.lastRun(), "train").detail?.studyId).toBe(studyId);
    expect(phase(stack.lastRun(), "train").resourceChanges).toBe(0);
    expect((await mlflow.studyRuns(experiment(), studyId)).map((r) => r.info.run_id).sort()).toEqual(before.map((r) => r.info.run_id).sort());

    writeParityData(2);
    const changed = await stack.driver(["--phase", "train"]);
    expect(changed.status, changed.output).toBe(0);
    const newStudy = String(phase(stack.lastRun(), "train").detail?.studyId);
    expect(newStudy).not.toBe(studyId);
    const fresh = await expectSpentStudy(newStudy);
    const oldIds = new Set(before.map((r) => r.info.run_id));
    expect(fresh.some((r) => oldIds.has(r.info.run_id))).toBe(false);
  });

  it("fails the train phase naming the failed trials when every trial fails, and never runs select", async () => {
    // scikit-learn rejects this criterion when each trial fits: every trial fails, none finishes.
    writeStack({ ...tpeTraining, searchSpace: { n_estimators: { values: [5, 7] }, criterion: { values: ["bogus"] } }, strategy: { kind: "grid" }, pruning: { kind: "none" } });
    const run = await stack.driver([]);
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/no trial finished \(2 failed, 0 pruned\)/);
    expect(run.output).toMatch(/#0 [0-9a-f]+: .*criterion/);
    expect(run.output).toMatch(/#1 [0-9a-f]+: .*criterion/);
    const record = stack.lastRun();
    expect(record.ok).toBe(false);
    expect(record.phases.map((p) => p.name)).not.toContain("select");
  });
});
