/**
 * Production tracking on the local platform, for real: `make pipeline` on a private stack whose
 * MLflow keeps its runs in the real PostgreSQL and its artifacts in the real SeaweedFS S3 bucket
 * (scripts/services/). Every check goes through the stores' own interfaces: SQL on MLflow's tables
 * and S3 ListObjectsV2, plus each model server's /version and the MLflow server's access log.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStudy } from "../../components/shared";
import { loadMetricsConfig, metricsConfigPath } from "../../config";
import { psql } from "../../scripts/services/testServices";
import { timedStep } from "../support/commands";
import { MlflowRest } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { CommandLineSampler, filesContaining } from "../support/secretScan";
import { deleteS3Prefix, productionTracking, s3Keys, startStores, storeSecrets, trialRows } from "../support/stores";
import { trialLedger } from "../support/trialLedger";
import { testPorts } from "../support/testPorts";

const database = "it_production";
const prefix = "it-production";
const ports = testPorts("test/integration/productionTracking.test.ts");
const secrets: Record<string, string> = {};
const stack = new TestStack("it-production", () => secrets);
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`);

/** `mlflow-artifacts:/<path>` -> the S3 key prefix MLflow's proxy stores it under. */
const objectPrefix = (source: string) => `${prefix}/${source.replace(/^mlflow-artifacts:\/+/, "")}/`;

const canRun = canRunPipelineSuite("productionTracking integration", { services: true });

describe.skipIf(!canRun)("production tracking on the local platform (real PostgreSQL + SeaweedFS S3)", () => {
  let studyId = "";
  let expectedKeys: string[] = [];
  /** Every command line on the machine, sampled from make pipeline to inference-one (test/support/secretScan.ts). */
  let commandLines: CommandLineSampler | undefined;

  beforeAll(async () => {
    const stores = await timedStep("start PostgreSQL and SeaweedFS, fresh database", () => startStores(database));
    Object.assign(secrets, storeSecrets());
    deleteS3Prefix(`${prefix}/`);
    stack.write(
      { tracking: productionTracking(stores, { port: ports.mlflow, database, prefix }), serving: { port: ports.replica, loadBalancerPort: ports.lb } },
      "test/integration/productionTracking.test.ts",
    );
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    const plan = planStudy(stack.name, stack.config().training);
    studyId = plan.study.studyId;
    expectedKeys = plan.trials.map((t) => t.key);
  });

  afterAll(async () => {
    await commandLines?.stop();
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    expect(removed.status, removed.output).toBe(0);
    deleteS3Prefix(`${prefix}/`);
  });

  it("runs make pipeline end to end with the external database and the S3 store", async () => {
    commandLines = CommandLineSampler.start();
    const run = await timedStep("make pipeline", () => stack.make("pipeline"));
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/database: external, artifacts: s3/);
    const record = stack.lastRun();
    expect(record.ok).toBe(true);
    expect(phase(record, "train").detail?.studyId).toBe(studyId);
  });

  it("keeps every trial as exactly one FINISHED row in PostgreSQL's runs table", () => {
    const rows = trialRows(database, studyId);
    const ledger = trialLedger(rows, expectedKeys);
    expect(ledger).toEqual({ finished: expectedKeys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });
    const scoring = stack.config().training.scoring;
    const withMean = psql(
      `SELECT count(DISTINCT run_uuid) FROM latest_metrics WHERE key = 'cv_${scoring}_mean' AND run_uuid IN (${rows.map((r) => `'${r.runId}'`).join(",")})`,
      database,
    );
    expect(Number(withMean)).toBe(expectedKeys.length);
  });

  it("stores every trial's model as objects in the S3 bucket", () => {
    const keys = new Set(s3Keys(`${prefix}/`));
    const sources = psql(
      `SELECT value FROM tags WHERE key = 'mlops.model_source' AND run_uuid IN (${trialRows(database, studyId)
        .map((r) => `'${r.runId}'`)
        .join(",")})`,
      database,
    ).split("\n");
    expect(sources).toHaveLength(expectedKeys.length);
    for (const source of sources) {
      expect(source).toMatch(/^mlflow-artifacts:\//);
      expect(keys, `model.pkl of ${source}`).toContain(`${objectPrefix(source)}model.pkl`);
      expect(keys, `MLmodel of ${source}`).toContain(`${objectPrefix(source)}MLmodel`);
    }
  });

  it("serves the champion from every replica, loaded through MLflow's proxy from the bucket", async () => {
    const metrics = loadMetricsConfig(metricsConfigPath(repoRoot));
    const champion = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
    expect(champion.source).toMatch(/^mlflow-artifacts:\//);
    const keys = new Set(s3Keys(objectPrefix(champion.source)));
    expect(keys).toContain(`${objectPrefix(champion.source)}model.pkl`);
    const replicas = stack.config().serving.replicas;
    for (let i = 0; i < replicas; i++) {
      const served = (await (await fetch(`http://127.0.0.1:${ports.replica + i}/version`)).json()) as { version: string; source: string };
      expect(served.version).toBe(champion.version);
      expect(served.source).toBe(champion.source);
    }
    // Each replica downloaded the pickle through the proxy, which read it from S3 (the server has no local artifact folder).
    const log = fs.readFileSync(path.join(stack.logDir, "mlflow.log"), "utf8");
    const downloads = log
      .split("\n")
      .filter((l) => l.includes(`GET /api/2.0/mlflow-artifacts/artifacts/${champion.source.replace(/^mlflow-artifacts:\/+/, "")}/model.pkl`) && l.includes(" 200"));
    expect(downloads.length).toBeGreaterThanOrEqual(replicas);
  });

  it("answers make inference-one with HTTP 200", async () => {
    const res = await stack.make("inference-one");
    expect(res.status, res.output).toBe(0);
    const answer = JSON.parse(res.output.split("\n").find((l) => l.startsWith("{")) ?? "{}") as { status: number };
    expect(answer.status).toBe(200);
  });

  it("keeps the database password and the S3 secret key out of logs, command lines (sampled while the pipeline ran) and Pulumi state", async () => {
    if (!commandLines) throw new Error("the command-line sampler never started: the pipeline test did not run");
    await commandLines.stop();
    for (const name of ["MLOPS_DATABASE_PASSWORD", "MLOPS_S3_SECRET_ACCESS_KEY"]) {
      const secret = secrets[name] ?? "";
      expect(filesContaining(secret, [stack.logDir, path.join(repoRoot, ".pulumi-state")]), name).toEqual([]);
      expect(await commandLines.containing(secret), name).toEqual([]);
    }
  });
});
