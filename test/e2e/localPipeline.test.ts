/**
 * `make pipeline` end to end on the local platform, for real: the Pulumi engine built offline, an
 * MLflow server process, trainer processes, model-server processes behind the load balancer.
 *
 * It runs under its own stack (`e2e`, a copy of Pulumi.local.yaml on other ports) so it never
 * touches a developer's `local` stack. Every assertion about MLflow is made through MLflow's own
 * REST API, independently of the selection code under test.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandTrials } from "../../components/shared";
import { loadMetricsConfig, type MetricsConfig, metricsConfigPath } from "../../config";
import { metric, MlflowRest, type MlflowRun, tag } from "../support/mlflowRest";
import { phase, repoRoot as root, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { trialLedger, trialRowsOf } from "../support/trialLedger";
import { testPorts } from "../support/testPorts";

const stack = new TestStack("e2e");
const ports = testPorts("test/e2e/localPipeline.test.ts");
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`);
const endpoint = `http://127.0.0.1:${ports.lb}`;

/** The best run by the metrics config, computed here on the client from raw runs. */
function independentlyBest(runs: MlflowRun[], metrics: MetricsConfig): MlflowRun | undefined {
  const compare = (op: string, a: number, b: number) => ({ "=": a === b, "!=": a !== b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b })[op] ?? false;
  const eligible = runs.filter(
    (r) =>
      r.info.status === "FINISHED" &&
      metrics.filters.metrics.every((f) => metric(r, f.metric) !== undefined && compare(f.op, metric(r, f.metric) as number, f.value)) &&
      Object.entries(metrics.thresholds).every(([k, v]) => (metric(r, k) ?? Number.NEGATIVE_INFINITY) >= v),
  );
  const keys = [metrics.orderBy, ...metrics.tieBreakers];
  return eligible.sort((a, b) => {
    for (const k of keys) {
      const [x, y] = [metric(a, k.metric) ?? 0, metric(b, k.metric) ?? 0];
      if (x !== y) return k.direction === "desc" ? y - x : x - y;
    }
    return a.info.run_id.localeCompare(b.info.run_id);
  })[0];
}

/** The pid files of the model servers and the load balancer: unchanged means nothing was restarted. */
const servingPids = () =>
  fs
    .readdirSync(stack.runDir)
    .filter((f) => f.startsWith("serving-"))
    .map((f) => fs.readFileSync(path.join(stack.runDir, f), "utf8"));

const canRun = canRunPipelineSuite("localPipeline e2e", { services: false });

describe.skipIf(!canRun)("make pipeline on the local platform (real engine, MLflow, processes)", () => {
  const config = () => stack.config();
  const metrics = loadMetricsConfig(metricsConfigPath(root));
  let studyId = "";

  beforeAll(async () => {
    stack.write(
      {
        tracking: stack.embeddedTracking(ports.mlflow),
        serving: { port: ports.replica, loadBalancerPort: ports.lb },
      },
      "test/e2e/localPipeline.test.ts",
    );
    await stack.make("mlflow-remove"); // a previous run killed half-way leaves nothing behind
  });

  afterAll(async () => {
    const removed = await stack.remove();
    expect(removed.status).toBe(0);
  });

  it("runs init -> train -> select -> deploy -> a prediction, and records each phase", async () => {
    const run = await stack.make("pipeline");
    expect(run.status, run.output).toBe(0);
    const record = stack.lastRun();
    expect(record.ok).toBe(true);
    expect(record.phases.map((p) => p.name)).toEqual(["init", "train", "select", "deploy", "smoke"]);
    for (const p of record.phases) expect(p.seconds).toBeGreaterThan(0);
    studyId = String(phase(record, "train").detail?.studyId);
    expect(studyId).toMatch(/^e2e-[0-9a-f]{10}$/);
    expect(run.output).toMatch(/\[1\/4 init\].*done/);
    expect(run.output).toMatch(/\[smoke\] POST .*HTTP 200/);
  });

  it("logged every trial as a FINISHED run with per-fold, mean and std metrics and a model", async () => {
    const cfg = config();
    const expected = expandTrials(cfg.training);
    const runs = await mlflow.studyRuns(cfg.training.experimentName, studyId);
    // Each expected key FINISHED exactly once: a duplicated run cannot stand in for a missing one.
    const keys = expected.map((t) => t.key);
    expect(trialLedger(trialRowsOf(runs), keys)).toEqual({ finished: keys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });
    const scoring = cfg.training.scoring;
    for (const r of runs) {
      const folds = Array.from({ length: cfg.training.cvFolds }, (_, k) => metric(r, `cv_${scoring}_fold_${k}`));
      expect(folds.every((v) => typeof v === "number" && v >= 0 && v <= 1)).toBe(true);
      const mean = folds.reduce((a, b) => (a ?? 0) + (b ?? 0), 0) as number;
      expect(metric(r, `cv_${scoring}_mean`)).toBeCloseTo(mean / folds.length, 6);
      expect(metric(r, `cv_${scoring}_std`)).toBeGreaterThanOrEqual(0);
      expect(tag(r, "mlops.model_source")).toBeDefined();
    }
  });

  it("points the champion alias at the run an independent query says is best", async () => {
    const cfg = config();
    const best = independentlyBest(await mlflow.studyRuns(cfg.training.experimentName, studyId), metrics);
    expect(best).toBeDefined();
    const model_version = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
    expect(model_version.run_id).toBe(best?.info.run_id);
    const served = (await (await fetch(`${endpoint}/version`)).json()) as { version: string; run_id: string };
    expect(served.version).toBe(model_version.version);
  });

  it("answers `make inference-one` with HTTP 200 and a valid class, spread over the replicas", async () => {
    const res = await stack.make("inference-one");
    expect(res.status, res.output).toBe(0);
    const line = res.output.split("\n").find((l) => l.startsWith("{"));
    const answer = JSON.parse(line ?? "{}") as { status: number; prediction: unknown };
    expect(answer.status).toBe(200);
    const classes = Array.from({ length: config().training.dataset.generate.classes }, (_, i) => i);
    expect(classes).toContain(Number(answer.prediction));
    const replicas = new Set<string>();
    for (let i = 0; i < 6; i++) replicas.add((await fetch(`${endpoint}/version`)).headers.get("x-replica-id") ?? "");
    expect(replicas.size).toBe(config().serving.replicas);
  });

  it("changes nothing and trains nothing on a second run", async () => {
    const cfg = config();
    const before = (await mlflow.studyRuns(cfg.training.experimentName, studyId)).length;
    const run = await stack.make("pipeline");
    expect(run.status, run.output).toBe(0);
    const record = stack.lastRun();
    expect(phase(record, "init").resourceChanges).toBe(0);
    expect(phase(record, "train").resourceChanges).toBe(0);
    expect(phase(record, "deploy").resourceChanges).toBe(0);
    expect(await mlflow.studyRuns(cfg.training.experimentName, studyId)).toHaveLength(before);
  });

  it("exits non-zero naming the filters when nothing passes, and leaves the deployment untouched", async () => {
    const pidsBefore = servingPids();
    const impossible = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mlops-e2e-")), "metrics_config.yaml");
    const raw = parseYaml(fs.readFileSync(metricsConfigPath(root), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(impossible, toYaml({ ...raw, thresholds: { test_f1_macro: 1.5 } }));
    const run = await stack.make("pipeline", { MLOPS_METRICS_CONFIG: impossible });
    expect(run.status).not.toBe(0);
    expect(run.output).toMatch(/no eligible run.*test_f1_macro`? >= 1\.5/);
    expect(run.output).not.toMatch(/\n\s+at .*\.ts:\d+/); // a message, not a stack trace
    expect(stack.lastRun().phases.map((p) => p.name)).not.toContain("deploy");
    expect(servingPids()).toEqual(pidsBefore);
    expect((await fetch(`${endpoint}/health`)).status).toBe(200);
  });
});
