/**
 * Bring your own model, through the driver on the local platform, for real: (a) a scikit-learn
 * regressor tuned by grid search, compared trial by trial with GridSearchCV; (c) a factory in a user
 * code folder returning a Pipeline with the folder's own transformer, served without the folder on the
 * server's path; (b) XGBoost from `training.requirements` on data with string columns and missing
 * values, TPE + WilcoxonPruner, probabilities on request. A mistake in the model keys is refused
 * before anything starts. One stack (`e2e-byom`) and one MLflow serve all cases; data and reference
 * answers come from test/fixtures/byom_reference.py (scikit-learn alone, not the trainer's code).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../support/commands";
import { metric, MlflowRest, type MlflowRun } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { testPorts } from "../support/testPorts";

const stack = new TestStack("e2e-byom");
const ports = testPorts("test/e2e/bringYourOwnModel.test.ts");
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`);
const dir = path.join(repoRoot, ".pipeline", stack.name);
const regressionCsv = path.join(dir, "regression.csv");
const mixedCsv = path.join(dir, "mixed.csv");
const codeDir = path.join(dir, "code");
const python = path.join(repoRoot, ".venv", "bin", "python");
const fixture = path.join(repoRoot, "test", "fixtures", "byom_reference.py");

const common = { cvFolds: 4, seed: 42, testSize: 0.2, workers: 2, retries: 0, strategy: { kind: "grid" }, pruning: { kind: "none" } };

/** The stack file for one case: the shipped local stack's training keys replaced (an undefined key is left out). */
function writeStack(training: Record<string, unknown>): void {
  stack.write(
    {
      tracking: stack.embeddedTracking(ports.mlflow),
      training: { estimator: undefined, modelFamily: undefined, ...common, ...training },
      serving: { replicas: 1, port: ports.replica, loadBalancerPort: ports.lb },
    },
    "test/e2e/bringYourOwnModel.test.ts",
  );
}

async function py(...args: string[]): Promise<string> {
  const run = await runCommand(`byom_reference ${args[0]}`, python, [fixture, ...args], { cwd: repoRoot, env: process.env, timeoutMs: 120_000 });
  expect(run.status, run.output).toBe(0);
  return run.output;
}

interface Reference {
  readonly meanByValue: Record<string, number>;
  readonly bestValue: number;
  readonly columns: string[];
  readonly rows: number[][];
  readonly predictions: number[];
}

async function gridReference(extra: string[]): Promise<Reference> {
  const out = await py("grid-reference", "--data", regressionCsv, "--target", "y", "--folds", "4", "--seed", "42", "--test-size", "0.2", "--scoring", "r2", ...extra);
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Reference;
}

async function invoke(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${ports.lb}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const param = (run: MlflowRun, key: string) => run.data.params?.find((p) => p.key === key)?.value;

/** The study's finished trial runs and the run the champion alias points at. */
async function studyAndChampion(registered: string): Promise<{ runs: MlflowRun[]; champion: MlflowRun }> {
  const studyId = String(phase(stack.lastRun(), "train").detail?.studyId);
  const runs = (await mlflow.studyRuns(stack.config().training.experimentName, studyId)).filter((r) => r.info.status === "FINISHED");
  const alias = await mlflow.aliasVersion(registered, "champion");
  const champion = runs.find((r) => r.info.run_id === alias.run_id);
  if (!champion) throw new Error(`the champion ${alias.run_id} is not a finished trial of study ${studyId}`);
  return { runs, champion };
}

/** The served model answers the reference's rows with the reference's predictions (the refitted best estimator's). */
async function expectServedAsReference(reference: Reference): Promise<void> {
  const answer = await invoke({ dataframe_split: { columns: reference.columns, data: reference.rows } });
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  const served = answer.json.predictions as number[];
  expect(served.length).toBe(reference.predictions.length);
  for (const [i, value] of served.entries()) expect(value).toBeCloseTo(reference.predictions[i] ?? Number.NaN, 8);
}

/** The environment of each model server process of this stack (found by its PORT), from /proc. */
function replicaEnvironments(): string[] {
  return fs.readdirSync("/proc").flatMap((pid) => {
    if (!/^\d+$/.test(pid)) return [];
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
      return cmdline.includes(path.join("images", "serving", "server.py")) && environ.split("\0").includes(`PORT=${ports.replica}`) ? [environ] : [];
    } catch {
      return []; // a process that exited while we looked
    }
  });
}

const canRun = canRunPipelineSuite("bringYourOwnModel e2e", { services: false });

describe.skipIf(!canRun)("bring your own model on the local platform: any estimator, user code, extra packages", () => {
  beforeAll(async () => {
    writeStack({ estimator: "sklearn.linear_model.Ridge", scoring: "r2", searchSpace: { alpha: { values: [1] } }, dataset: { source: regressionCsv, target: "y" } });
    await stack.make("mlflow-remove");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(codeDir, { recursive: true });
    await py("regression-data", "--out", regressionCsv);
    await py("mixed-data", "--out", mixedCsv);
  });

  afterAll(async () => {
    const removed = await stack.remove();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(removed.status).toBe(0);
  });

  it("refuses a parameter the estimator does not take at its key, before any phase starts", async () => {
    writeStack({ estimator: "sklearn.linear_model.Ridge", scoring: "r2", searchSpace: { alphaa: { values: [1, 2] } }, dataset: { source: regressionCsv, target: "y" } });
    const run = await stack.driver([]);
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/Pulumi\.e2e-byom\.yaml:\d+: mlops:training\.searchSpace\.alphaa: .*alpha/);
    expect(run.output).not.toMatch(/Traceback|at .*\.ts:\d+/);
    const record = stack.lastRun();
    expect(record.ok).toBe(false);
    expect(record.phases).toEqual([]);
    expect(record.error).toMatch(/searchSpace\.alphaa/);
    const mlflowUp = await fetch(`http://127.0.0.1:${ports.mlflow}/health`).then(
      () => true,
      () => false,
    );
    expect(mlflowUp, "nothing may start for a config mistake").toBe(false);
  });

  it("(a) tunes a scikit-learn regressor exactly as GridSearchCV does, selects its best and serves its predictions", async () => {
    const alphas = [0.01, 1, 100, 3000];
    writeStack({ estimator: "sklearn.linear_model.Ridge", scoring: "r2", searchSpace: { alpha: { values: alphas } }, dataset: { source: regressionCsv, target: "y" } });
    const run = await stack.driver([]);
    expect(run.status, run.output).toBe(0);
    const reference = await gridReference(["--estimator", "sklearn.linear_model.Ridge", "--param", "alpha", "--values", alphas.join(",")]);
    const { runs, champion } = await studyAndChampion("mlops-regressor");
    expect(runs.length).toBe(alphas.length);
    for (const r of runs) {
      const alpha = String(Number(param(r, "alpha")));
      expect(metric(r, "cv_r2_mean"), `alpha ${alpha}`).toBeCloseTo(reference.meanByValue[alpha] ?? Number.NaN, 10);
      expect(metric(r, "test_rmse")).toBeGreaterThan(0);
      expect(metric(r, "test_accuracy")).toBeUndefined();
    }
    expect(Number(param(champion, "alpha"))).toBe(reference.bestValue);
    await expectServedAsReference(reference);
  });

  it("(c) trains a factory's Pipeline with a transformer from the user's code folder and serves it without that folder on the server's path", async () => {
    fs.writeFileSync(
      path.join(codeDir, "byom_models.py"),
      [
        "import numpy as np",
        "from sklearn.base import BaseEstimator, TransformerMixin",
        "from sklearn.linear_model import Ridge",
        "from sklearn.pipeline import Pipeline",
        "",
        "",
        "class Winsorize(BaseEstimator, TransformerMixin):",
        '    """Clips every column to its [q, 1-q] quantiles seen in fit."""',
        "",
        "    def __init__(self, q=0.05):",
        "        self.q = q",
        "",
        "    def fit(self, x, y=None):",
        "        self.low_, self.high_ = np.quantile(x, self.q, axis=0), np.quantile(x, 1 - self.q, axis=0)",
        "        return self",
        "",
        "    def transform(self, x):",
        "        return np.clip(np.asarray(x, dtype=float), self.low_, self.high_)",
        "",
        "",
        "def build(alpha=1.0):",
        '    return Pipeline([("winsorize", Winsorize()), ("ridge", Ridge(alpha=alpha))])',
        "",
      ].join("\n"),
    );
    const alphas = [0.1, 30, 3000];
    writeStack({
      factory: "byom_models:build",
      task: "regression",
      code: path.relative(repoRoot, codeDir),
      scoring: "r2",
      searchSpace: { alpha: { values: alphas } },
      dataset: { source: regressionCsv, target: "y" },
    });
    const run = await stack.driver([]);
    expect(run.status, run.output).toBe(0);
    const reference = await gridReference([
      "--factory",
      "byom_models:build",
      "--code-dir",
      codeDir,
      "--grid-param",
      "ridge__alpha",
      "--param",
      "alpha",
      "--values",
      alphas.join(","),
    ]);
    const { runs, champion } = await studyAndChampion("mlops-regressor");
    expect(runs.length).toBe(alphas.length);
    for (const r of runs) expect(metric(r, "cv_r2_mean")).toBeCloseTo(reference.meanByValue[String(Number(param(r, "alpha")))] ?? Number.NaN, 10);
    expect(Number(param(champion, "alpha"))).toBe(reference.bestValue);
    await expectServedAsReference(reference);
    // Nothing put the code folder on the replica's path: the logged model brought it (MLflow code_paths).
    const environments = replicaEnvironments();
    expect(environments.length).toBeGreaterThan(0);
    for (const env of environments) expect(env).not.toContain(codeDir);
  });

  it("(b) trains XGBoost from requirements on string columns with missing values (TPE + Wilcoxon pruning) and serves probabilities on request", async () => {
    writeStack({
      estimator: "xgboost.XGBClassifier",
      requirements: ["xgboost-cpu==3.1.2"],
      scoring: "f1_macro",
      strategy: { kind: "tpe", trials: 8, seed: 3 },
      pruning: { kind: "wilcoxon", afterFolds: 1 },
      searchSpace: {
        n_estimators: { type: "int", low: 10, high: 60 },
        max_depth: { type: "int", low: 2, high: 5 },
        learning_rate: { type: "float", low: 0.05, high: 0.5, log: true },
      },
      dataset: {
        source: mixedCsv,
        target: "label",
        features: { numeric: ["n0", "n1", "n2", "n3", "n4"], categorical: ["colour", "size"] },
      },
    });
    const run = await stack.driver([]);
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/installed xgboost-cpu==3\.1\.2|up to date: .*venvs/);
    const { champion } = await studyAndChampion("mlops-classifier");
    expect(metric(champion, "test_accuracy")).toBeGreaterThan(0.5);
    const columns = ["n0", "n1", "n2", "n3", "n4", "colour", "size"];
    const rows = [
      [0.1, -1.2, 0.3, 1.5, -0.4, "red", "M"],
      [null, 0.5, -0.7, null, 1.1, "purple", "XXL"], // missing numbers and categories never seen in training
    ];
    const labels = await invoke({ dataframe_split: { columns, data: rows } });
    expect(labels.status, JSON.stringify(labels.json)).toBe(200);
    for (const label of labels.json.predictions as number[]) expect([0, 1, 2]).toContain(label);
    const probabilities = await invoke({ dataframe_split: { columns, data: rows }, params: { predict_method: "predict_proba" } });
    expect(probabilities.status, JSON.stringify(probabilities.json)).toBe(200);
    for (const row of probabilities.json.predictions as number[][]) {
      expect(row.length).toBe(3);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const wrongType = await invoke({ dataframe_split: { columns, data: [[0.1, -1.2, 0.3, 1.5, -0.4, 7, "M"]] } });
    expect(wrongType.status).toBe(400);
    expect(JSON.stringify(wrongType.json)).toMatch(/data\[0\]\.colour/);
  });
});
