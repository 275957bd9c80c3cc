import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { trainingSchema } from "../../config";
import {
  baseContainer,
  type ContainerSpec,
  networkSpec,
  replicaRole,
  s3Ports,
  type SecretValues,
  servingTopology,
  topologyLabel,
  trackingTopology,
  trainingTopology,
  withAuthSecrets,
} from "../../components/docker/containerSpecs";
import { DockerEngine } from "../support/engineClient";
import { planStudy } from "../../components/shared/study";
import { metricNames, mlflowTags } from "../../components/shared/studySpec";
import { MlflowClient } from "../../components/registry/mlflowClient";
import { toRunRecord } from "../../components/registry/mlflowTypes";

/**
 * The Docker platform for real: the same container specs the Pulumi components deploy, created on a
 * real Docker engine through its Engine API (the @pulumi/docker plugin cannot be installed offline).
 * PostgreSQL + SeaweedFS + MLflow, a prepare job and W trainers to completion, the best run registered
 * as `champion`, R model servers behind nginx answering predictions. Everything it creates carries
 * one topology label and is removed afterwards, also on failure.
 */

const repo = path.resolve(__dirname, "..", "..");
const engine = new DockerEngine(process.env.DOCKER_SOCKET ?? "/var/run/docker.sock");

function startEngine(): string | undefined {
  const started = spawnSync("bash", [path.join(repo, "scripts/docker/engine.sh"), "start"], { encoding: "utf8", timeout: 300_000 });
  if (started.status === 0) return undefined;
  return `no Docker engine could be started: ${(started.stderr || started.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`;
}

const unavailable = startEngine();
if (unavailable && process.env.CI) throw new Error(`Docker topology test cannot run in CI: ${unavailable}`);
if (unavailable) console.warn(`skipping the Docker topology test: ${unavailable}`);

const timings: [string, number][] = [];
async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  console.log(`[docker-it] ${name} ...`);
  try {
    return await work();
  } finally {
    const seconds = (Date.now() - started) / 1000;
    timings.push([name, seconds]);
    console.log(`[docker-it] ${name}: ${seconds.toFixed(1)} s`);
  }
}

/** Runs a repo script; progress (stderr) goes to the test output, `key=value` lines on stdout come back. */
function runScript(script: string, args: string[]): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [path.join(repo, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${script} ${args.join(" ")} exited with ${code}`));
      resolve(Object.fromEntries(out.split("\n").flatMap((line) => (/^[\w.-]+=/.test(line) ? [line.split(/=(.*)/s).slice(0, 2) as [string, string]] : []))));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const secret = () => randomBytes(18).toString("hex");
const prefix = `dockerit-${randomBytes(3).toString("hex")}`;
const networkName = `${prefix}-net`;
const adminPassword = secret();
const adminUser = "admin";
// The auth config and CSRF key MLflow takes are derived from the admin password, as the component does.
const secrets: SecretValues = withAuthSecrets(
  {
    databasePassword: secret(),
    objectStoreAccessKeyId: `it${secret().slice(0, 14)}`,
    objectStoreSecretAccessKey: secret(),
    // MLflow runs with basic auth (as the dev stack does); trainers and servers log in as the admin.
    authAdminPassword: adminPassword,
    trackingPassword: adminPassword,
  },
  adminUser,
);
const images: Record<string, string> = {};
const created = { network: false, volumes: [] as string[] };
const ids = new Map<string, string>();

async function createAndStart(spec: ContainerSpec): Promise<string> {
  const id = await engine.createContainer(spec, networkName, secrets);
  ids.set(spec.role, id);
  await engine.start(id);
  return id;
}

/** Starts a job and waits for it; a non-zero exit fails with the end of its log. */
async function runJob(spec: ContainerSpec, timeoutMs: number): Promise<void> {
  const id = await createAndStart(spec);
  const code = await engine.wait(id, timeoutMs);
  if (code !== 0) {
    const { stdout, stderr } = await engine.logs(id, 40);
    throw new Error(`${spec.name} exited with ${code}:\n${stdout}${stderr}`);
  }
}

async function startServer(spec: ContainerSpec, timeoutMs: number): Promise<void> {
  await engine.waitHealthy(await createAndStart(spec), timeoutMs);
}

const tracking = () => new MlflowClient({ trackingUri: driverTrackingUri, username: adminUser, password: adminPassword });

/** The same start order as the Pulumi components: group by group, a group's members together. */
async function startGroups(groups: readonly (readonly ContainerSpec[])[], timeoutMs: number): Promise<void> {
  for (const group of groups) {
    await Promise.all(
      group.map((spec) => (spec.runToCompletion ? runJob(spec, timeoutMs) : spec.healthcheck ? startServer(spec, timeoutMs) : createAndStart(spec).then(() => undefined))),
    );
  }
}

const training = trainingSchema.parse({
  experimentName: `${prefix}-study`,
  modelFamily: "random_forest",
  searchSpace: { n_estimators: { values: [10, 20] }, max_depth: { values: [3, null] } },
  cvFolds: 3,
  workers: 2,
  retries: 1,
  dataset: { generate: { rows: 300, features: 6, informative: 4, classes: 3, seed: 5 } },
  resources: { cpuLimit: "1", memoryLimit: "1Gi" },
});
const plan = planStudy(prefix, training);
const replicas = 3;
const modelName = `${prefix}-model`;
let driverTrackingUri = "";
let jobTrackingUri = "";
let endpoint = "";

describe.skipIf(unavailable !== undefined)("Docker topology from the container specs (real engine)", () => {
  afterAll(async () => {
    await phase("clean up", async () => {
      const leftovers = await engine.listContainers(`${topologyLabel}=${prefix}`);
      for (const c of leftovers) await engine.removeContainer(c.Id);
      if (created.network) await engine.removeNetwork(networkName);
      for (const v of created.volumes) await engine.removeVolume(v);
      const after = await engine.listContainers(`${topologyLabel}=${prefix}`);
      expect(after).toEqual([]);
    });
    console.log(`[docker-it] timings: ${timings.map(([name, s]) => `${name} ${s.toFixed(1)}s`).join(", ")}`);
  });

  it("builds the base stand-ins and our images; every image runs as a non-root user", async () => {
    const bases = await phase("base images (debootstrap + docker import, cached)", () => runScript("scripts/docker/base-image.sh", ["all"]));
    Object.assign(images, bases);
    const built = await phase("our images (wheelhouse + builds, cached)", () => runScript("scripts/docker/build-images.sh", ["--base", bases.pythonBase ?? "", "--tag", "it"]));
    Object.assign(images, built);
    for (const role of ["pythonBase", "postgres", "nginx", "seaweedfs", "trainer", "mlflow", "serving"]) expect(images[role], role).toMatch(/:[\w][\w.-]*$/);
    for (const [role, ref] of Object.entries(images)) {
      const image = await engine.inspectImage(ref);
      console.log(`[docker-it] image ${role} ${ref}: ${(image.Size / 1e6).toFixed(0)} MB, user '${image.Config.User}'`);
      expect(ref).not.toMatch(/:latest$/);
      if (role === "pythonBase") continue; // the bare base is not run on its own
      expect(image.Config.User, `${ref} must not run as root`).not.toMatch(/^(|root|0)(:.*)?$/);
    }
  });

  it("starts PostgreSQL, SeaweedFS (bucket created) and MLflow from the tracking specs", async () => {
    const topology = trackingTopology({
      prefix,
      mlflowImage: images.mlflow ?? "",
      port: 5000,
      publishedPort: await freePort(),
      publishHostIp: "127.0.0.1",
      database: { kind: "inStack", image: images.postgres ?? "", database: "mlflow", user: "mlflow", storageSize: "1Gi" },
      objectStore: { kind: "inStack", image: images.seaweedfs ?? "", bucket: "mlflow", storageSize: "1Gi" },
      hasObjectStoreCredentials: true,
      authAdminUser: adminUser,
      resources: { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" },
    });
    driverTrackingUri = topology.driverTrackingUri;
    jobTrackingUri = topology.jobTrackingUri;
    await phase("tracking: network, volumes, PostgreSQL, SeaweedFS, bucket, MLflow", async () => {
      await engine.createNetwork(networkSpec(networkName, prefix));
      created.network = true;
      for (const v of topology.volumes) {
        await engine.createVolume(v);
        created.volumes.push(v.name);
      }
      await startGroups(topology.groups, 240_000);
    });
    const health = await fetch(`${driverTrackingUri}/health`);
    expect(health.status).toBe(200);
    // Basic auth is on: no credentials, no API.
    const anonymous = await fetch(`${driverTrackingUri}/api/2.0/mlflow/experiments/search?max_results=1`);
    expect(anonymous.status).toBe(401);
    expect((await tracking().searchRuns({ experimentIds: ["0"], maxResults: 1 })).runs).toEqual([]);
    const mlflowEnv = (await engine.inspectContainer(ids.get("mlflow") ?? "")).Config;
    // The password reaches MLflow through PGPASSWORD only, never in its command line.
    // (Boolean checks: a failing matcher would print the secret.)
    expect(JSON.stringify(topology.containers.map((c) => c.command)).includes(secrets.databasePassword ?? "?")).toBe(false);
    expect(mlflowEnv.Env.includes(`PGPASSWORD=${secrets.databasePassword}`)).toBe(true);
  });

  it("runs the prepare job, then W trainers to completion; every trial is FINISHED in MLflow", async () => {
    const topology = trainingTopology({
      prefix,
      trainerImage: images.trainer ?? "",
      trackingUri: jobTrackingUri,
      shards: plan.shards,
      retries: training.retries,
      resources: training.resources,
      trackingUsername: adminUser,
    });
    expect(topology.workers.length).toBe(2);
    await phase(`training: prepare + ${topology.workers.length} trainers (${plan.study.totalTrials} trials)`, async () => {
      await startGroups(topology.groups, 600_000);
    });
    const client = tracking();
    const experiment = await client.getExperimentByName(training.experimentName);
    expect(experiment).toBeDefined();
    const page = await client.searchRuns({
      experimentIds: [experiment?.experiment_id ?? ""],
      filter: `tags.\`${mlflowTags.studyId}\` = '${plan.study.studyId}' and tags.\`${mlflowTags.role}\` = 'trial'`,
      maxResults: 100,
    });
    const runs = page.runs.map(toRunRecord);
    expect(runs.length).toBe(plan.study.totalTrials);
    for (const run of runs) {
      expect(run.status, `run ${run.runId}`).toBe("FINISHED");
      expect(run.metrics[metricNames.cvMean(training.scoring)], `run ${run.runId} cv mean`).toBeGreaterThan(0);
    }
    expect(new Set(runs.map((r) => r.tags[mlflowTags.workerIndex]))).toEqual(new Set(["0", "1"]));
  });

  it("keeps the artifacts in the object store, which refuses anonymous and wrong-key requests", async () => {
    const check: ContainerSpec = {
      ...baseContainer(prefix, "s3-check", "test", images.mlflow ?? ""),
      entrypoint: ["python", "-c", s3CheckScript],
      env: { MLFLOW_S3_ENDPOINT_URL: `http://objectstore:${s3Ports.seaweedfs}`, AWS_DEFAULT_REGION: "us-east-1", BUCKET: "mlflow" },
      secretEnv: { AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" },
      restart: "no",
      networkAliases: [],
      runToCompletion: true,
    };
    await runJob(check, 120_000);
    const { stdout } = await engine.logs(ids.get("s3-check") ?? "");
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { objects?: number; anonymous?: string; wrongKey?: string };
    console.log(`[docker-it] object store: ${JSON.stringify(result)}`);
    expect(result.objects).toBeGreaterThan(0);
    expect(result.anonymous).toMatch(/AccessDenied|Forbidden|403/);
    expect(result.wrongKey).toMatch(/SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId|Forbidden|403/);
  });

  it("registers the best run as champion over the MLflow REST API", async () => {
    const client = tracking();
    const experiment = await client.getExperimentByName(training.experimentName);
    const metric = metricNames.cvMean(training.scoring);
    const page = await client.searchRuns({
      experimentIds: [experiment?.experiment_id ?? ""],
      filter: `tags.\`${mlflowTags.studyId}\` = '${plan.study.studyId}' and tags.\`${mlflowTags.role}\` = 'trial' and attributes.status = 'FINISHED'`,
      orderBy: [`metrics.\`${metric}\` DESC`],
      maxResults: 1,
    });
    const best = page.runs.map(toRunRecord)[0];
    expect(best).toBeDefined();
    const source = best?.tags[mlflowTags.modelSource] ?? "";
    expect(source).not.toBe("");
    await client.createRegisteredModel(modelName);
    const version = await client.createModelVersion({ name: modelName, source, runId: best?.runId ?? "" });
    for (let i = 0; i < 60 && (await client.getModelVersion(modelName, version.version)).status !== "READY"; i++) await new Promise((r) => setTimeout(r, 1000));
    await client.setAlias(modelName, "champion", version.version);
    const champion = await client.getModelVersionByAlias(modelName, "champion");
    expect(champion?.run_id).toBe(best?.runId);
  });

  it("serves predictions through nginx from all R replicas", async () => {
    const topology = servingTopology({
      prefix,
      servingImage: images.serving ?? "",
      loadBalancerImage: images.nginx ?? "",
      modelUri: `models:/${modelName}@champion`,
      trackingUri: jobTrackingUri,
      serving: { replicas, port: 8080, loadBalancerPort: 8000, resources: { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" } },
      publishedPort: await freePort(),
      publishHostIp: "127.0.0.1",
      modelVersion: "1",
      trackingUsername: adminUser,
    });
    endpoint = topology.endpoint;
    await phase(`serving: ${replicas} replicas + nginx`, async () => {
      await startGroups(topology.groups, 300_000);
    });

    await waitForLoadBalancer(endpoint, 60_000);
    // The trainer's generated dataset names its columns feature_0..feature_{n-1}.
    const columns = Array.from({ length: training.dataset.generate.features }, (_, j) => `feature_${j}`);
    const classes = new Set(Array.from({ length: training.dataset.generate.classes }, (_, i) => i));
    const servedBy = new Map<string, number>();
    await phase("30 predictions through nginx", async () => {
      for (let i = 0; i < 30; i++) {
        const record = Object.fromEntries(columns.map((c, j) => [c, Math.sin(i * 7 + j) * 2]));
        const res = await fetch(`${endpoint}/invocations`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ dataframe_records: [record] }),
        });
        const body = (await res.json()) as { predictions?: unknown[] };
        expect(res.status, JSON.stringify(body)).toBe(200);
        expect(body.predictions?.length).toBe(1);
        expect(classes.has(Number(body.predictions?.[0])), `prediction ${JSON.stringify(body.predictions?.[0])}`).toBe(true);
        const replica = res.headers.get("x-replica-id") ?? "?";
        servedBy.set(replica, (servedBy.get(replica) ?? 0) + 1);
      }
    });
    console.log(`[docker-it] predictions per replica (X-Replica-Id): ${JSON.stringify(Object.fromEntries(servedBy))}`);
    const roles = topology.replicas.map((r) => r.role);
    expect(new Set(servedBy.keys())).toEqual(new Set(roles));
    // Each replica's own access log (Engine API logs endpoint) shows the requests it served.
    for (let i = 0; i < replicas; i++) {
      const { stdout, stderr } = await engine.logs(ids.get(replicaRole(i)) ?? "");
      const lines = `${stdout}${stderr}`.split("\n").filter((line) => line.includes("/invocations"));
      expect(lines.length, `access log of ${replicaRole(i)}`).toBe(servedBy.get(replicaRole(i)));
      expect(lines.every((line) => line.includes(replicaRole(i)))).toBe(true);
    }
  });
});

/** Lists the bucket with the real keys, then tries anonymous and wrong-key listings; prints one JSON line. */
const s3CheckScript = `
import json, os
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, bucket = os.environ["MLFLOW_S3_ENDPOINT_URL"], os.environ["BUCKET"]

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

async function waitForLoadBalancer(base: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/lb/health`);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`load balancer at ${base} did not answer: ${last}`);
}
