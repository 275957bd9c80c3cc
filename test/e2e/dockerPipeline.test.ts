/**
 * `make pipeline` on the docker platform, for real: the Pulumi engine with the real @pulumi/docker
 * plugin against Docker's engine, the locally built images (scripts/docker/*.sh: our images and the
 * Debian stand-ins for PostgreSQL, SeaweedFS and nginx). PostgreSQL, the object store and MLflow as
 * containers, W training containers pulling TPE trials with median pruning from one Optuna study in the
 * stack's PostgreSQL (one worker has its trainer killed mid-trial, another its container), the champion
 * selected (never a pruned trial), R serving containers behind nginx. Then: a second run changes
 * nothing, the per-phase make targets (`make compose-logs` shows this stack's containers only), a new
 * champion rolled out under load without one failed request, and `make mlflow-remove` leaving nothing
 * of ours on the engine.
 *
 * A private stack (`e2e-docker`: Pulumi.dev.yaml with the local images and its own ports and network)
 * so it never touches a developer's `dev` stack. MLflow is checked through its own REST API and the
 * containers through the docker CLI, independently of the code under test.
 *
 * The model is the user's own (`training.factory` in a `training.code` folder the test writes): a
 * Pipeline of a transformer defined there and a random forest. The trainers run it from the derived
 * trainer image that carries the folder (components/docker/derivedImage.ts); the servers load it from
 * the logged model (MLflow code_paths), their image without the folder.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topologyLabel } from "../../components/docker/specBasics";
import { planStudy } from "../../components/shared";
import { loadMetricsConfig, metricsConfigPath } from "../../config";
import { timedStep, waitFor } from "../support/commands";
import { metric, MlflowRest, type MlflowRun, tag } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { docker, dockerSuiteSkipped, forceRemoveStack, run, stackContainers, stackNetworksAndVolumes, standInImages } from "../support/dockerEngine";
import { rolloutProblems, runRolloutLoad } from "../support/rolloutLoad";
import { plantDecoys, removeDecoys } from "../support/selectionDecoys";
import { trialLedger } from "../support/trialLedger";
import { CommandLineSampler } from "../support/secretScan";
import { generatedSecretsOf, servingApiKeyOf } from "../support/stackSecrets";
import { testPorts } from "../support/testPorts";

const stackName = "e2e-docker";
const ports = testPorts("test/e2e/dockerPipeline.test.ts");
const admin = { username: "admin", password: randomBytes(18).toString("hex") };
const stack = new TestStack(stackName, () => ({ MLOPS_AUTH_ADMIN_PASSWORD: admin.password }));
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`, admin);
const endpoint = `http://127.0.0.1:${ports.lb}`;
const { registeredModel } = loadMetricsConfig(metricsConfigPath(repoRoot));
/** The TPE budget: trials the shared study hands out (pruned ones included). */
const budget = 8;

const unavailable = dockerSuiteSkipped("docker pipeline e2e");
const ourContainers = () => stackContainers(stackName);
const ourNetworksAndVolumes = () => stackNetworksAndVolumes(stackName);
const forceRemoveOurs = () => forceRemoveStack(stackName);

interface Prediction {
  readonly ok: boolean;
  readonly status: number;
  readonly replica: string;
  readonly detail: string;
}

let features = 0;
/** serving.auth is on by default on docker: requests carry the deploy phase's API key. */
let apiKey: string | undefined;
async function authHeaders(): Promise<Record<string, string>> {
  apiKey ??= await servingApiKeyOf(stackName);
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

async function predict(i: number): Promise<Prediction> {
  const record = Object.fromEntries(Array.from({ length: features }, (_, j) => [`feature_${j}`, Math.sin(i * 7 + j) * 2]));
  try {
    const res = await fetch(`${endpoint}/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(await authHeaders()) },
      body: JSON.stringify({ dataframe_records: [record] }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    return { ok: res.status === 200 && /"predictions"/.test(body), status: res.status, replica: res.headers.get("x-replica-id") ?? "?", detail: body.slice(0, 200) };
  } catch (err) {
    return { ok: false, status: 0, replica: "-", detail: err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : String(err) };
  }
}

/** The champion version each replica serves, asked through the load balancer until every replica answered. */
async function servedVersions(replicas: number): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  for (let i = 0; i < replicas * 10 && seen.size < replicas; i++) {
    const res = await fetch(`${endpoint}/version`, { headers: await authHeaders() });
    const body = (await res.json()) as { version: string };
    seen.set(res.headers.get("x-replica-id") ?? "?", body.version);
  }
  return seen;
}

const isPruned = (r: MlflowRun) => tag(r, "mlops.pruned") === "true";

interface QueuedTrial {
  readonly number: number;
  readonly state: string;
  readonly key: string;
  /** Set on a re-enqueued copy of a trial whose worker died (images/trainer/trialqueue.py SYS_RETRY_OF). */
  readonly retryOf?: number;
  /** Set on a trial asked for beyond the budget and failed at once (SYS_SURPLUS). */
  readonly surplus: boolean;
}

/**
 * The study's trials as Optuna stored them in the stack's PostgreSQL (its `optuna` database), read
 * with psql inside the database container: the queue's own record, independent of the trainer's code.
 */
async function optunaTrials(study: string): Promise<QueuedTrial[]> {
  const { user } = stack.config().tracking.database as { user: string };
  const password = (await generatedSecretsOf(stackName)).values.databasePassword ?? "";
  const attr = (table: string, alias: string, key: string) => `LEFT JOIN ${table} ${alias} ON ${alias}.trial_id = t.trial_id AND ${alias}.key = '${key}'`;
  const sql = [
    "SELECT t.number, t.state, coalesce(k.value_json, 'null'), coalesce(r.value_json, 'null'), coalesce(x.value_json, 'false')",
    "FROM trials t JOIN studies s ON s.study_id = t.study_id",
    attr("trial_user_attributes", "k", "mlops.trial_key"),
    attr("trial_system_attributes", "r", "mlops:retry_of"),
    attr("trial_system_attributes", "x", "mlops:surplus"),
    `WHERE s.study_name = '${study}' ORDER BY t.number`,
  ].join(" ");
  const res = spawnSync(
    "docker",
    ["exec", "-e", "PGPASSWORD", `${stackName}-tracking-postgres`, "psql", "-h", "127.0.0.1", "-U", user, "-d", "optuna", "-At", "-F", "\t", "-c", sql],
    { env: { ...process.env, PGPASSWORD: password }, encoding: "utf8", timeout: 60_000 },
  );
  if (res.status !== 0) throw new Error(`reading the Optuna study from PostgreSQL failed: ${res.stderr}`);
  return res.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [number = "", state = "", key = "null", retryOf = "null", surplus = "false"] = line.split("\t");
      const retry = JSON.parse(retryOf) as number | null;
      return { number: Number(number), state, key: String(JSON.parse(key)), ...(retry === null ? {} : { retryOf: retry }), surplus: JSON.parse(surplus) === true };
    });
}

/** The champion is a FINISHED trial of the study with its full CV mean, never a pruned one. */
async function expectChampionNotPruned(): Promise<string> {
  const champion = await mlflow.aliasVersion(registeredModel.name, registeredModel.alias);
  const runs = await mlflow.studyRuns(stack.config().training.experimentName, planStudy(stackName, stack.config().training).study.studyId);
  const run = runs.find((r) => r.info.run_id === champion.run_id);
  expect(run, `the champion's run ${champion.run_id} is a trial of the study`).toBeDefined();
  expect(run?.info.status).toBe("FINISHED");
  expect(tag(run as MlflowRun, "mlops.pruned")).toBe("false");
  expect(metric(run as MlflowRun, "cv_f1_macro_mean")).toBeDefined();
  return champion.version;
}

const trainer = (worker: number) => `${stackName}-training-trainer-${worker}`;

/** The user's code folder (`training.code`): a factory whose Pipeline needs a class defined here to load. */
const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-docker-e2e-code-"));
const factory = "docker_models:build";
const factoryModule = [
  "import numpy as np",
  "from sklearn.base import BaseEstimator, TransformerMixin",
  "from sklearn.ensemble import RandomForestClassifier",
  "from sklearn.pipeline import Pipeline",
  "",
  "",
  "class Centre(BaseEstimator, TransformerMixin):",
  "    # Subtracts the column means seen in fit: a class the model server has only from the logged model.",
  "",
  "    def fit(self, x, y=None):",
  "        self.mean_ = np.asarray(x, dtype=float).mean(axis=0)",
  "        return self",
  "",
  "    def transform(self, x):",
  "        return np.asarray(x, dtype=float) - self.mean_",
  "",
  "",
  "def build(n_estimators=100, max_depth=None):",
  '    return Pipeline([("centre", Centre()), ("forest", RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0))])',
  "",
].join("\n");
const param = (r: MlflowRun, key: string) => r.data.params?.find((p) => p.key === key)?.value;

/** Runs `act` on a training container once it runs a trial (its log says so); undefined until then. */
function whenTraining(name: string, act: (name: string) => string): string | undefined {
  if (!ourContainers().some((c) => c.name === name && c.state === "running")) return undefined;
  const logs = run("docker", ["logs", name]);
  if (!/started run/.test(`${logs.stdout}${logs.stderr}`)) return undefined;
  return act(name);
}

/** SIGKILLs the trainer's Python process inside the container (not the retry loop around it). */
function killTrainerProcess(name: string): string {
  const processes = docker("top", name, "-eo", "pid,args").split("\n").slice(1);
  const python = processes.find((p) => /trainer\.py run/.test(p) && !/sh -c/.test(p));
  if (!python) throw new Error(`no trainer process in ${name}: ${processes.join(" | ")}`);
  const pid = python.trim().split(/\s+/)[0] ?? "";
  process.kill(Number(pid), "SIGKILL");
  return `pid ${pid}: ${python.trim()}`;
}

/** The passwords the stack generated (the tracking stack's secret output), the API key and our admin password. */
async function generatedSecrets(): Promise<string[]> {
  const { values } = await generatedSecretsOf(stackName);
  return [...Object.values(values), (await servingApiKeyOf(stackName)) ?? "", admin.password].filter((v) => v.length >= 8);
}

/**
 * Lists the artifact bucket with the stack's keys, then anonymously and with a wrong secret, from a
 * container on the stack's network (the object store is not published on the host). The keys reach
 * it through the environment, never its command line.
 */
async function objectStoreCheck(): Promise<{ objects?: number; anonymous?: string; wrongKey?: string }> {
  const generated = (await generatedSecretsOf(stackName)).values;
  const env = { ...process.env, AWS_ACCESS_KEY_ID: (generated.objectStoreAccessKeyId ?? "").slice(0, 20), AWS_SECRET_ACCESS_KEY: generated.objectStoreSecretKey ?? "" };
  const config = stack.config();
  const image = `mlops-mlflow:${config.images.tag}`;
  const args = ["run", "--rm", "--network", config.docker.network, "-e", "AWS_ACCESS_KEY_ID", "-e", "AWS_SECRET_ACCESS_KEY", "-e", "AWS_DEFAULT_REGION=us-east-1"];
  const res = spawnSync("docker", [...args, "-e", "S3_ENDPOINT=http://objectstore:8333", "-e", "BUCKET=mlflow", "--entrypoint", "python", image, "-c", s3CheckScript], {
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  if (res.status !== 0) throw new Error(`object store check failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1) ?? "{}");
}

const s3CheckScript = `
import json, os
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, bucket = os.environ["S3_ENDPOINT"], os.environ["BUCKET"]

def denied(client):
    try:
        client.list_objects_v2(Bucket=bucket)
        return "allowed"
    except ClientError as err:
        return err.response.get("Error", {}).get("Code", "") or str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))

objects = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket).get("KeyCount", 0)
anonymous = denied(boto3.client("s3", endpoint_url=endpoint, config=Config(signature_version=UNSIGNED)))
wrong = denied(boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="not-the-key"))
print(json.dumps({"objects": objects, "anonymous": anonymous, "wrongKey": wrong}))
`;

const expectNoChanges = (label: string) => {
  const record = stack.lastRun();
  expect(record.ok, `${label}: ${record.error}`).toBe(true);
  for (const p of record.phases) if (["init", "train", "deploy"].includes(p.name)) expect(p.resourceChanges, `${label}: ${p.name} resource changes`).toBe(0);
  return record;
};

describe.skipIf(unavailable)("make pipeline on the docker platform (real engine, @pulumi/docker plugin, local images, TPE + pruning on the shared queue)", () => {
  let studyId = "";
  let experimentName = "";
  let replicas = 0;
  let firstVersion = "";
  /** Every command line on the host (the containers' processes included), sampled while the pipeline runs. */
  let commandLines: CommandLineSampler | undefined;

  beforeAll(async () => {
    fs.writeFileSync(path.join(codeDir, "docker_models.py"), factoryModule);
    const images = await timedStep("stand-in images (cached)", () => standInImages());
    stack.write(
      {
        tracking: {
          port: ports.mlflow,
          database: { kind: "inStack", image: images.postgres },
          objectStore: { kind: "inStack", image: images.seaweedfs, bucket: "mlflow" },
          auth: { enabled: true },
        },
        training: {
          // The user's factory (a Pipeline ending in a random forest), from the folder written above,
          // instead of the dev stack's estimator (undefined: left out of the written YAML).
          estimator: undefined,
          factory,
          task: "classification",
          code: path.relative(repoRoot, codeDir),
          // A stump forest is clearly worse than a deep one after the first fold: with the budget's random
          // start (TPE samples at random for its first 10 trials) pruned trials occur in every run.
          searchSpace: { n_estimators: { type: "int", low: 20, high: 60 }, max_depth: { values: [1, null] } },
          strategy: { kind: "tpe", trials: budget, seed: 5 },
          pruning: { kind: "median", afterFolds: 1, warmupTrials: 2 },
          cvFolds: 3,
          workers: 2,
          retries: 2,
          dataset: { source: "generated", generate: { rows: 1500, features: 8, informative: 5, classes: 2, seed: 3 } },
          resources: { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" },
        },
        serving: { replicas: 2, port: 8080, loadBalancerPort: ports.lb },
        images: { pythonBase: images.pythonBase, loadBalancer: images.nginx },
        docker: { network: stackName },
      },
      "test/e2e/dockerPipeline.test.ts",
      "dev",
    );
    const config = stack.config();
    for (const role of ["trainer", "mlflow", "serving"]) {
      const ref = `mlops-${role}:${config.images.tag}`;
      if (run("docker", ["image", "inspect", ref]).status !== 0) throw new Error(`image ${ref} is not on the engine: run \`make build-train build-prod\` (make test-setup does)`);
    }
    features = config.training.dataset.generate.features;
    replicas = config.serving.replicas;
    experimentName = config.training.experimentName;
    studyId = planStudy(stackName, config.training).study.studyId;
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    forceRemoveOurs();
  });

  afterAll(async () => {
    fs.rmSync(codeDir, { recursive: true, force: true });
    await commandLines?.stop();
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    const leftovers = forceRemoveOurs();
    expect(removed.status, removed.output).toBe(0);
    expect(leftovers, "objects left on the engine after make mlflow-remove").toEqual([]);
  });

  it("retries a trainer process killed mid-trial in its container; fails the run naming a training container killed outright", async () => {
    commandLines = CommandLineSampler.start();
    const driver = stack.startDriver([]);
    // Worker 0: its trainer process dies (as in an OOM kill); the container's retry loop resumes the trial.
    // Worker 1: the whole container is killed; nothing inside can retry, the run fails and says which.
    const [killedProcess] = await Promise.all([
      waitFor(`${trainer(0)} to start a trial`, () => whenTraining(trainer(0), killTrainerProcess), 900_000, 250),
      waitFor(`${trainer(1)} to start a trial`, () => whenTraining(trainer(1), (name) => docker("kill", name)), 900_000, 250),
    ]);
    console.log(`[docker-e2e] killed the trainer process of ${trainer(0)} (${killedProcess}) and the container ${trainer(1)}, both mid-trial`);
    const result = await driver.done;
    expect(result.status, result.output).not.toBe(0);
    expect(result.output).toContain(`container ${trainer(1)} exited with code 137`);
    expect(stack.lastRun().ok).toBe(false);
    const retried = run("docker", ["logs", trainer(0)]);
    expect(`${retried.stdout}${retried.stderr}`).toMatch(/mlops: attempt 1 failed \(exit 137\); retrying/);
    expect(ourContainers().find((c) => c.name === trainer(0))?.status).toMatch(/^Exited \(0\)/);
  });

  it("reruns the killed training container on the next make pipeline, then selects, deploys and answers", async () => {
    const result = await stack.make("pipeline");
    expect(result.status, result.output).toBe(0);
    const record = stack.lastRun();
    expect(record.phases.map((p) => p.name)).toEqual(["init", "train", "select", "deploy", "smoke"]);
    expect(phase(record, "train").detail?.studyId).toBe(studyId);
    expect(result.output).toMatch(/\[smoke\] POST .*HTTP 200/);
  });

  it("ran every container it should: stores and MLflow healthy, W trainers exited 0, R replicas and nginx running", () => {
    const containers = ourContainers();
    const byName = new Map(containers.map((c) => [c.name, c]));
    console.log(`[docker-e2e] containers:\n${containers.map((c) => `  ${c.name}: ${c.status}`).join("\n")}`);
    for (const role of ["postgres", "mlflow"]) expect(byName.get(`${stackName}-tracking-${role}`)?.status, role).toMatch(/^Up .*\(healthy\)/);
    // The object store has no health check: the bucket job waits for it (and exited 0).
    expect(byName.get(`${stackName}-tracking-objectstore`)?.state).toBe("running");
    expect(byName.get(`${stackName}-tracking-bucket-init`)?.status).toMatch(/^Exited \(0\)/);
    const workers = stack.config().training.workers;
    for (const role of ["prepare", ...Array.from({ length: workers }, (_, i) => `trainer-${i}`)]) {
      expect(byName.get(`${stackName}-training-${role}`)?.status, role).toMatch(/^Exited \(0\)/);
    }
    const serving = containers.filter((c) => c.topology === `${stackName}-serving`);
    expect(serving.filter((c) => /serving-\d/.test(c.name) && /^Up .*\(healthy\)/.test(c.status))).toHaveLength(replicas);
    expect(serving.filter((c) => /loadbalancer/.test(c.name) && c.state === "running")).toHaveLength(1);
  });

  it("spends the TPE budget on the shared queue: every completed trial key FINISHED once in MLflow, every pruned one a pruned run", async () => {
    const queue = await optunaTrials(studyId);
    console.log(
      `[docker-e2e] Optuna study ${studyId}: ${queue.map((t) => `#${t.number} ${t.state}${t.retryOf !== undefined ? ` (retry of #${t.retryOf})` : ""}${t.surplus ? " (surplus)" : ""}`).join(", ")}`,
    );
    // What the budget paid for: dead attempts the reaper re-enqueued and surplus asks are not results.
    const retried = new Set(queue.flatMap((t) => (t.retryOf === undefined ? [] : [t.retryOf])));
    const settled = queue.filter((t) => !t.surplus && !retried.has(t.number));
    expect(settled.filter((t) => t.state !== "COMPLETE" && t.state !== "PRUNED").map((t) => `#${t.number} ${t.state}`)).toEqual([]);
    expect(settled).toHaveLength(budget);
    const completeKeys = [...new Set(settled.filter((t) => t.state === "COMPLETE").map((t) => t.key))];
    const prunedKeys = [...new Set(settled.filter((t) => t.state === "PRUNED").map((t) => t.key))];
    expect(prunedKeys.length, "pruned trials with this budget").toBeGreaterThan(0);

    const runs: MlflowRun[] = await mlflow.studyRuns(experimentName, studyId);
    const prunedRuns = runs.filter(isPruned);
    const rows = runs
      .filter((r) => !isPruned(r))
      .map((r) => ({ runId: r.info.run_id, status: r.info.status, trialKey: tag(r, "mlops.trial_key") ?? "", worker: Number(tag(r, "mlops.worker_index") ?? -1) }));
    // 0 lost, 0 duplicated: each completed key has exactly one FINISHED run, and no run is left RUNNING or FAILED.
    expect(trialLedger(rows, completeKeys)).toEqual({ finished: completeKeys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });
    // Pruned keys are accounted for as pruned: one KILLED run each, with the fold it stopped at and no full CV mean.
    expect(prunedRuns.map((r) => tag(r, "mlops.trial_key")).sort()).toEqual([...prunedKeys].sort());
    for (const r of prunedRuns) {
      expect(r.info.status).toBe("KILLED");
      expect(Number(tag(r, "mlops.pruned_at_fold")), "pruned_at_fold").toBeGreaterThanOrEqual(1);
      expect(Number(tag(r, "mlops.pruned_at_fold")), "pruned_at_fold").toBeLessThan(stack.config().training.cvFolds);
      expect(metric(r, "cv_f1_macro_mean")).toBeUndefined();
    }
  });

  it("never selects a pruned trial as the champion", async () => {
    await expectChampionNotPruned();
  });

  it("runs every image as non-root, keeps secrets out of command lines and labels, and refuses anonymous clients", async () => {
    const secrets = await generatedSecrets();
    // The host's command lines, containers' processes included, sampled through both pipeline runs above.
    if (!commandLines) throw new Error("the command-line sampler never started: the first pipeline test did not run");
    await commandLines.stop();
    console.log(`[docker-e2e] secret scan: ${commandLines.summary()}`);
    for (const secret of secrets) expect(await commandLines.containing(secret), "a secret on a command line while the pipeline ran").toEqual([]);
    for (const c of ourContainers()) {
      const [inspected] = JSON.parse(docker("inspect", c.name)) as {
        Config: { User: string; Image: string; Cmd: string[] | null; Entrypoint: string[] | null; Labels: Record<string, string> };
      }[];
      const user = inspected?.Config.User || docker("image", "inspect", "--format", "{{.Config.User}}", inspected?.Config.Image ?? "");
      expect(user, `${c.name} (${inspected?.Config.Image}) must not run as root`).not.toMatch(/^(|root|0)(:.*)?$/);
      const visible = JSON.stringify([inspected?.Config.Cmd, inspected?.Config.Entrypoint, inspected?.Config.Labels]);
      // Boolean checks: a failing matcher would print the secret.
      for (const secret of secrets) expect(visible.includes(secret), `a secret in the command line or labels of ${c.name}`).toBe(false);
    }
    expect((await mlflow.fetch("experiments/search?max_results=1", undefined, null)).status).toBe(401);
    expect((await mlflow.fetch("experiments/search?max_results=1")).status).toBe(200);
    const s3 = await objectStoreCheck();
    console.log(`[docker-e2e] object store: ${JSON.stringify(s3)}`);
    expect(s3.objects).toBeGreaterThan(0);
    expect(s3.anonymous).toMatch(/AccessDenied|Forbidden|403/);
    expect(s3.wrongKey).toMatch(/SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId|Forbidden|403/);
  });

  it("answers a prediction from every replica through nginx, each serving the champion", async () => {
    const answers = await Promise.all(Array.from({ length: replicas * 4 }, (_, i) => predict(i)));
    for (const a of answers) expect(a.ok, `${a.status} ${a.detail}`).toBe(true);
    expect(new Set(answers.map((a) => a.replica)).size).toBe(replicas);
    const champion = await mlflow.aliasVersion(registeredModel.name, registeredModel.alias);
    firstVersion = champion.version;
    const served = await servedVersions(replicas);
    expect(served.size).toBe(replicas);
    for (const version of served.values()) expect(version).toBe(champion.version);
  });

  it("ran the user's factory from the derived trainer image; serves its model from an image without the code folder", async () => {
    // Every trial is the factory's (the runs' model_family), trained in the image that carries the folder.
    const runs = await mlflow.studyRuns(experimentName, studyId);
    expect(runs.length).toBeGreaterThan(0);
    expect([...new Set(runs.map((r) => param(r, "model_family")))]).toEqual([factory]);
    // Containers are created from the image id (RemoteImage); its tags say which image that is.
    const imageOf = (container: string) => docker("inspect", "--format", "{{.Image}}", container);
    const tagsOf = (container: string) => JSON.parse(docker("image", "inspect", "--format", "{{json .RepoTags}}", imageOf(container))) as string[];
    const trainerImage = tagsOf(trainer(0)).find((t) => /^mlops-trainer-user:[0-9a-f]{12}$/.test(t));
    expect(trainerImage, `a derived trainer image among ${tagsOf(trainer(0)).join(", ")}`).toBeDefined();
    expect(imageOf(`${stackName}-training-prepare`)).toBe(imageOf(trainer(0)));
    expect(run("docker", ["run", "--rm", "--entrypoint", "ls", String(trainerImage), "/app/user-code"]).stdout.split("\n")).toContain("docker_models.py");
    // The replicas answered above with a Pipeline whose Centre class only the logged model's code/ holds:
    // their image is the stack's serving image as is, with no /app/user-code and no docker_models on the path.
    const replicaNames = ourContainers()
      .filter((c) => /-serving-serving-\d+/.test(c.name))
      .map((c) => c.name);
    expect(replicaNames).toHaveLength(replicas);
    for (const name of replicaNames) {
      expect(tagsOf(name)).toContain(`mlops-serving:${stack.config().images.tag}`);
      expect(run("docker", ["exec", name, "test", "-e", "/app/user-code"]).status, `${name} has /app/user-code`).not.toBe(0);
      const plain = run("docker", ["exec", name, "python", "-c", "import docker_models"]);
      expect(`${plain.stdout}${plain.stderr}`).toMatch(/ModuleNotFoundError: No module named 'docker_models'/);
    }
    expect((await predict(1)).ok).toBe(true);
  });

  it("changes nothing and trains nothing on a second run", async () => {
    const before = (await mlflow.studyRuns(experimentName, studyId)).length;
    const containersBefore = ourContainers()
      .map((c) => c.name)
      .sort();
    const result = await stack.make("pipeline");
    expect(result.status, result.output).toBe(0);
    expectNoChanges("second make pipeline");
    expect(await mlflow.studyRuns(experimentName, studyId)).toHaveLength(before);
    expect(
      ourContainers()
        .map((c) => c.name)
        .sort(),
    ).toEqual(containersBefore);
  });

  it("puts back a replica container removed by hand on the next make pipeline, training nothing", async () => {
    const before = (await mlflow.studyRuns(experimentName, studyId)).length;
    // Replica containers are auto-named `<stack>-serving-serving-<i>-<random>`: a new one gets a new suffix.
    const role = (name: string) => name.replace(/(-serving-\d+)-[0-9a-f]+$/, "$1");
    const rolesBefore = ourContainers()
      .map((c) => role(c.name))
      .sort();
    const victim = ourContainers().find((c) => /-serving-serving-\d+-[0-9a-f]+$/.test(c.name))?.name;
    expect(victim, `a serving replica among ${rolesBefore.join(", ")}`).toBeDefined();
    const removedId = docker("inspect", "--format", "{{.Id}}", String(victim));
    docker("rm", "--force", String(victim));
    expect(ourContainers().map((c) => c.name)).not.toContain(victim);
    const result = await stack.make("pipeline");
    expect(result.status, result.output).toBe(0);
    // The refresh before the deploy saw the container gone; the update created it again, and only it.
    expect(phase(stack.lastRun(), "deploy").resourceChanges).toBeGreaterThanOrEqual(1);
    expect(phase(stack.lastRun(), "train").resourceChanges).toBe(0);
    const replacement = ourContainers().find((c) => role(c.name) === role(String(victim)));
    expect(replacement?.status).toMatch(/^Up /);
    expect(docker("inspect", "--format", "{{.Id}}", String(replacement?.name))).not.toBe(removedId);
    expect(
      ourContainers()
        .map((c) => role(c.name))
        .sort(),
    ).toEqual(rolesBefore);
    expect(await mlflow.studyRuns(experimentName, studyId)).toHaveLength(before);
    const champion = await mlflow.aliasVersion(registeredModel.name, registeredModel.alias);
    const served = await servedVersions(replicas);
    expect(served.size).toBe(replicas);
    for (const version of served.values()) expect(version).toBe(champion.version);
  });

  it("runs make train-docker, make prod-docker and make compose-logs on the stack (its containers only)", async () => {
    const train = await stack.make("train-docker");
    expect(train.status, train.output).toBe(0);
    expectNoChanges("make train-docker");
    const prod = await stack.make("prod-docker");
    expect(prod.status, prod.output).toBe(0);
    expectNoChanges("make prod-docker");
    // A container of another stack whose name starts with ours (`e2e-docker-other`): not in our logs.
    const decoy = `${stackName}-other-serving-serving-0`;
    docker("create", "--name", decoy, "--label", `${topologyLabel}=${stackName}-other-serving`, "--entrypoint", "true", `mlops-serving:${stack.config().images.tag}`);
    try {
      const logs = await stack.make("compose-logs");
      expect(logs.status, logs.output).toBe(0);
      for (const c of ourContainers()) expect(logs.output).toContain(`==> ${c.name}: `);
      expect(logs.output).toMatch(/==> e2e-docker-training-trainer-0: exited exit 0 <==/);
      const shown = [...logs.output.matchAll(/^==> ([^:]+): /gm)].map((m) => m[1]);
      expect(shown.sort()).toEqual(
        ourContainers()
          .map((c) => c.name)
          .sort(),
      );
    } finally {
      run("docker", ["rm", "--force", decoy]);
    }
  });

  it("rolls a new champion out replica by replica under load: 0 of at least 200 requests fail, every replica then serves it", async () => {
    // The best eligible run below the champion's CV mean (an ordering worst-first is refused by the config
    // check): select registers another version as the champion.
    const current = await mlflow.aliasVersion(registeredModel.name, registeredModel.alias);
    const currentRun = (await mlflow.studyRuns(experimentName, studyId)).find((r) => r.info.run_id === current.run_id);
    const currentMean = metric(currentRun as MlflowRun, "cv_f1_macro_mean");
    expect(currentMean, "the champion's CV mean").toBeDefined();
    const raw = parseYaml(fs.readFileSync(metricsConfigPath(repoRoot), "utf8")) as Record<string, unknown>;
    const belowChampion = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mlops-docker-e2e-")), "metrics_config.yaml");
    fs.writeFileSync(
      belowChampion,
      toYaml({
        ...raw,
        filters: { metrics: [{ metric: "cv_f1_macro_mean", op: "<", value: currentMean }], params: [] },
        thresholds: {},
        orderBy: { metric: "cv_f1_macro_mean", direction: "desc" },
        tieBreakers: [],
      }),
    );
    // Decoys ordered first by that config: a pruned and a FAILED trial just below the champion's CV mean. Select must skip them.
    const decoyMean = Number(currentMean) - 1e-9;
    const decoys = await plantDecoys(mlflow, experimentName, studyId, { cv_f1_macro_mean: decoyMean, cv_f1_macro_std: 0, test_f1_macro: 1, fit_time_seconds: 0 });
    // Four clients through nginx, counted only while the new version rolls out (test/support/rolloutLoad.ts);
    // the rollout is over when, through nginx, every replica answers the new version.
    let request = 0;
    const load = await runRolloutLoad({
      label: "docker-e2e",
      startDeploy: () => stack.startDriver(["--phase", "deploy"], { MLOPS_METRICS_CONFIG: belowChampion }),
      send: async () => {
        const answer = await predict(request++);
        return answer.ok ? undefined : `${answer.status} from ${answer.replica}: ${answer.detail}`;
      },
      servedVersions: async () => {
        const headers = await authHeaders();
        return Promise.all(
          Array.from({ length: 4 * replicas }, async () => {
            const res = await fetch(`${endpoint}/version`, { headers, signal: AbortSignal.timeout(10_000) });
            const body = (await res.json()) as { version?: string };
            return { replica: res.headers.get("x-replica-id") ?? "?", version: res.status === 200 ? String(body.version) : `HTTP ${res.status}` };
          }),
        );
      },
      replicas,
      pauseMs: 20,
      maxSeconds: 900,
    }).finally(() => removeDecoys(mlflow, decoys));
    expect(load.deploy.status, load.deploy.output).toBe(0);
    // Every request was a prediction: replicas replaced one at a time, each out of the balancer and
    // drained before it stops, back only once its model is loaded (before readiness gating 13% were
    // 503s, before the rolling replacement 47% failed, with keep-alive to nginx 1 in 1000).
    expect(rolloutProblems(load)).toEqual([]);
    const alias = await mlflow.aliasVersion(registeredModel.name, registeredModel.alias);
    expect(decoys.map((d) => d.runId)).not.toContain(alias.run_id);
    expect(load.target).toBe(alias.version);
    const record = stack.lastRun();
    expect(phase(record, "deploy").resourceChanges).toBeGreaterThan(0);
    const champion = await expectChampionNotPruned();
    expect(champion).not.toBe(firstVersion);
    // Every replica (by its X-Replica-Id) serves the new champion.
    const served = await servedVersions(replicas);
    expect([...served.keys()].sort()).toEqual(Array.from({ length: replicas }, (_, i) => `serving-${i}`));
    for (const version of served.values()) expect(version).toBe(champion);
    // Old replicas are gone: exactly R replicas and one load balancer remain.
    const serving = ourContainers().filter((c) => c.topology === `${stackName}-serving`);
    expect(serving.filter((c) => /serving-\d/.test(c.name))).toHaveLength(replicas);
  });

  it("removes everything of the stack from the engine with make mlflow-remove", async () => {
    const removed = await stack.make("mlflow-remove");
    expect(removed.status, removed.output).toBe(0);
    expect(ourContainers()).toEqual([]);
    expect(ourNetworksAndVolumes()).toEqual([]);
  });
});
