/**
 * `--rotate-secrets` on the docker platform, for real: the Pulumi engine with the real @pulumi/docker and
 * random plugins against Docker's engine, PostgreSQL and SeaweedFS as the Debian stand-ins and our
 * mlflow image (built here under this suite's own tag, so a shared tag is never rebuilt under another run).
 * In the order a user lives it: the init phase only, a run with an artifact and a registered model
 * logged, then a rotation, then the next runs. After the rotation every generated password is new and:
 * the PostgreSQL role, the object store, the MLflow admin and both service users take the new one and
 * refuse the old; the run, its artifact and the model are still there; the next init changes nothing,
 * and the next whole pipeline trains, selects and serves on the rotated passwords only.
 *
 * A private stack (`e2e-rotate`: Pulumi.dev.yaml with the local images, its own port and network), never
 * a developer's `dev` stack nor the docker pipeline test's `e2e-docker`. Everything is checked through
 * MLflow's REST API, psql and an S3 client of our own, independently of the code under test.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authDataDir } from "../../components/docker/trackingSpecs";
import { planStudy, seededRandom } from "../../components/shared";
import { mlflowServiceUsers } from "../../components/shared/mlflowAuth";
import { timedStep } from "../support/commands";
import { docker, dockerSuiteSkipped, forceRemoveStack, run, stackContainers, standInImages } from "../support/dockerEngine";
import { MlflowRest, type MlflowRun, tag } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { filesContaining } from "../support/secretScan";
import { generatedSecretsOf } from "../support/stackSecrets";
import { testPorts } from "../support/testPorts";

const stackName = "e2e-rotate";
const ports = testPorts("test/e2e/dockerRotation.test.ts");
const imageTag = "e2e-rotate";
const mlflowImage = `mlops-mlflow:${imageTag}`;
// An empty MLOPS_AUTH_ADMIN_PASSWORD: the stack generates the admin password (the user's own would win).
const stack = new TestStack(stackName, () => ({ MLOPS_AUTH_ADMIN_PASSWORD: "" }));
const trackingUri = `http://127.0.0.1:${ports.mlflow}`;
const container = (role: string) => `${stackName}-tracking-${role}`;
const experimentName = "e2e-rotate-kept-runs";
const modelName = "e2e-rotate-kept-model";
const artifactText = "logged before the rotation\n";
/** Every password the docker stack generates with in-stack PostgreSQL and object store and auth on. */
const generatedNames = ["authAdminPassword", "databasePassword", "objectStoreAccessKeyId", "objectStoreSecretKey", "servingUserPassword", "trainingUserPassword"];

const skipped = dockerSuiteSkipped("docker rotation e2e");

const as = (username: string, password: string) => new MlflowRest(trackingUri, { username, password });
const admin = (password: string) => as("admin", password);

async function generated(): Promise<Record<string, string>> {
  const { secret, values } = await generatedSecretsOf(stackName);
  expect(secret).toBe(true);
  return values;
}

/**
 * A CSV on this machine, which the docker trainers cannot read where they run: the driver uploads it
 * through MLflow and they read it as the training user (driver/datasetUpload.ts). Two noisy signs of
 * four features decide the label.
 */
const dataFile = path.join(repoRoot, ".pipeline", stackName, "rotation-data.csv");
function writeDataFile(): string {
  const random = seededRandom(9);
  const uniform = () => random.next() * 2 - 1;
  const lines = ["f0,f1,f2,f3,target"];
  for (let i = 0; i < 400; i++) {
    const f = Array.from({ length: 4 }, uniform);
    lines.push(`${f.map((v) => v.toFixed(5)).join(",")},${(f[0] ?? 0) + 0.5 * (f[1] ?? 0) + 0.3 * uniform() > 0 ? 1 : 0}`);
  }
  fs.mkdirSync(path.dirname(dataFile), { recursive: true });
  fs.writeFileSync(dataFile, `${lines.join("\n")}\n`);
  return createHash("sha256").update(fs.readFileSync(dataFile)).digest("hex");
}
let dataSha256 = "";

async function init(extra: string[] = []) {
  const result = await timedStep(`pipeline --phase init ${extra.join(" ")}`, () => stack.driver(["--phase", "init", ...extra]));
  expect(result.status, result.output).toBe(0);
  return { output: result.output, changes: phase(stack.lastRun(), "init").resourceChanges };
}

/** Whether PostgreSQL lets the role in over TCP with `password` (given to psql through its environment only). */
function databaseTakes(password: string): boolean {
  const { user, database } = databaseNames();
  const res = run("docker", ["exec", "-e", "PGPASSWORD", container("postgres"), "psql", "-h", "127.0.0.1", "-U", user, "-d", database, "-tAc", "select 1"], 60_000, {
    ...process.env,
    PGPASSWORD: password,
  });
  if (res.status !== 0 && !/password authentication failed/.test(res.stderr)) throw new Error(`psql failed for another reason: ${res.stderr}`);
  return res.status === 0;
}

function databaseNames(): { user: string; database: string } {
  const db = stack.config().tracking.database;
  if (db.kind !== "inStack") throw new Error("this suite runs an in-stack PostgreSQL");
  return { user: db.user, database: db.database };
}

/** The bucket listed with a key pair from a container on the stack's network (keys in its environment only): "ok" or S3's error code. */
function objectStoreAnswer(accessKeyId: string, secretAccessKey: string): string {
  const config = stack.config();
  if (config.tracking.objectStore.kind !== "inStack") throw new Error("this suite runs an in-stack object store");
  const script =
    "import boto3, botocore.exceptions as e\n" +
    "try:\n  boto3.client('s3', endpoint_url='http://objectstore:8333').list_objects_v2(Bucket='mlflow'); print('ok')\n" +
    "except e.ClientError as err:\n  print(err.response.get('Error', {}).get('Code', 'error'))\n";
  const args = ["run", "--rm", "--network", config.docker.network, "-e", "AWS_ACCESS_KEY_ID", "-e", "AWS_SECRET_ACCESS_KEY", "-e", "AWS_DEFAULT_REGION=us-east-1"];
  const res = run("docker", [...args, "--entrypoint", "python", mlflowImage, "-c", script], 120_000, {
    ...process.env,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  });
  if (res.status !== 0) throw new Error(`object store check failed: ${res.stderr}`);
  return res.stdout.trim().split("\n").at(-1) ?? "";
}

/** The artifact through MLflow's artifact proxy (MLflow reads it from the object store with its keys). */
async function artifact(password: string, runPath: string, body?: string): Promise<{ status: number; text: string }> {
  const headers = { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}` };
  const res = await fetch(`${trackingUri}/api/2.0/mlflow-artifacts/artifacts/${runPath}/artifacts/note.txt`, body === undefined ? { headers } : { method: "PUT", headers, body });
  return { status: res.status, text: await res.text() };
}

const containerId = (name: string) => docker("inspect", "--format", "{{.Id}}", name);

describe.skipIf(skipped)("--rotate-secrets on the docker platform (real engine, @pulumi/docker and random plugins)", () => {
  let before: Record<string, string> = {};
  let after: Record<string, string> = {};
  let experimentId = "";
  let runId = "";
  let mlflowContainer = "";

  beforeAll(async () => {
    dataSha256 = writeDataFile();
    const images = await timedStep("stand-in images (cached)", () => standInImages());
    await timedStep(`build ${mlflowImage}`, () => {
      // All three: the last test runs the whole pipeline (trainers, model servers) on the rotated passwords.
      const built = run("bash", ["scripts/docker/build-images.sh", "--base", images.pythonBase ?? "", "--tag", imageTag, "trainer", "mlflow", "serving"], 1_200_000);
      if (built.status !== 0) throw new Error(`scripts/docker/build-images.sh failed:\n${built.stderr.split("\n").slice(-15).join("\n")}`);
    });
    stack.write(
      {
        tracking: {
          port: ports.mlflow,
          database: { kind: "inStack", image: images.postgres },
          objectStore: { kind: "inStack", image: images.seaweedfs, bucket: "mlflow" },
          auth: { enabled: true },
        },
        // Small on purpose: the last test trains this on the rotated passwords.
        training: {
          estimator: "random_forest",
          searchSpace: { n_estimators: { values: [10, 20] }, max_depth: { values: [2, 4] } },
          strategy: { kind: "grid" },
          cvFolds: 2,
          workers: 2,
          dataset: { source: path.relative(repoRoot, dataFile), target: "target" },
          resources: { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" },
        },
        serving: { replicas: 1, loadBalancerPort: ports.lb },
        images: { pythonBase: images.pythonBase, loadBalancer: images.nginx, tag: imageTag },
        docker: { network: stackName },
      },
      "test/e2e/dockerRotation.test.ts",
      "dev",
    );
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    forceRemoveStack(stackName);
  });

  afterAll(async () => {
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    const leftovers = forceRemoveStack(stackName);
    for (const role of ["trainer", "mlflow", "serving"]) run("docker", ["image", "rm", `mlops-${role}:${imageTag}`]);
    expect(removed.status, removed.output).toBe(0);
    expect(leftovers, "objects left on the engine after make mlflow-remove").toEqual([]);
  });

  it("init: MLflow takes the generated admin password; a run with an artifact, a registered model and the training user", async () => {
    await init();
    before = await generated();
    expect(Object.keys(before).sort()).toEqual(generatedNames);
    const mlflow = admin(before.authAdminPassword ?? "");
    ({ experiment_id: experimentId } = await mlflow.call<{ experiment_id: string }>("experiments/create", { name: experimentName }));
    const created = await mlflow.call<{ run: { info: { run_id: string } } }>("runs/create", { experiment_id: experimentId, start_time: Date.now() });
    runId = created.run.info.run_id;
    await mlflow.call("runs/log-metric", { run_id: runId, key: "score", value: 0.75, timestamp: Date.now() });
    expect((await artifact(before.authAdminPassword ?? "", `${experimentId}/${runId}`, artifactText)).status).toBe(200);
    await mlflow.call("registered-models/create", { name: modelName });
    await mlflow.call("model-versions/create", { name: modelName, source: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`, run_id: runId });
    // As the train phase would: the training user with the stack's password of the time.
    await mlflow.call("users/create", { username: mlflowServiceUsers.training, password: before.trainingUserPassword });
    expect((await as(mlflowServiceUsers.training, before.trainingUserPassword ?? "").fetch(`experiments/get?experiment_id=${experimentId}`)).status).toBe(200);
    expect(databaseTakes(before.databasePassword ?? "")).toBe(true);
    expect(objectStoreAnswer(before.objectStoreAccessKeyId ?? "", before.objectStoreSecretKey ?? "")).toBe("ok");
    mlflowContainer = containerId(container("mlflow"));
  });

  it("--rotate-secrets: every generated password is new, in the encrypted state only", async () => {
    const { output, changes } = await init(["--rotate-secrets"]);
    expect(changes).toBeGreaterThan(0);
    expect(output).toMatch(/MLflow users and permissions: .*set the password of mlops-training/);
    after = await generated();
    expect(Object.keys(after).sort()).toEqual(generatedNames);
    for (const name of generatedNames) expect(after[name] === before[name], `${name} rotated`).toBe(false);
    // Boolean checks: a failing matcher would print the secret.
    for (const secret of [...Object.values(before), ...Object.values(after)]) {
      expect(filesContaining(secret, [path.join(repoRoot, ".pulumi-state"), stack.logDir]).length, "a password in plain text in the state or a log").toBe(0);
    }
  });

  it("the PostgreSQL role and the object store take the new passwords and refuse the old", () => {
    expect(databaseTakes(after.databasePassword ?? "")).toBe(true);
    expect(databaseTakes(before.databasePassword ?? "")).toBe(false);
    expect(objectStoreAnswer(after.objectStoreAccessKeyId ?? "", after.objectStoreSecretKey ?? "")).toBe("ok");
    expect(objectStoreAnswer(before.objectStoreAccessKeyId ?? "", before.objectStoreSecretKey ?? "")).toMatch(/InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch|Forbidden/);
  });

  it("MLflow restarted with the new admin password, refuses the old, and kept its users, runs, artifacts and models", async () => {
    expect(containerId(container("mlflow"))).not.toBe(mlflowContainer);
    const probe = `experiments/get?experiment_id=${experimentId}`;
    expect((await admin(before.authAdminPassword ?? "").fetch(probe)).status).toBe(401);
    const mlflow = admin(after.authAdminPassword ?? "");
    expect((await mlflow.fetch(probe)).status).toBe(200);
    // One users database, moved to the new password's file: no file keeps the old admin hash.
    const files = docker("exec", container("mlflow"), "ls", authDataDir).split("\n").filter(Boolean);
    expect(files).toHaveLength(1);
    expect((await as(mlflowServiceUsers.training, after.trainingUserPassword ?? "").fetch(probe)).status).toBe(200);
    expect((await as(mlflowServiceUsers.training, before.trainingUserPassword ?? "").fetch(probe)).status).toBe(401);
    expect((await as(mlflowServiceUsers.serving, after.servingUserPassword ?? "").fetch(probe)).status).toBe(200);
    expect((await as(mlflowServiceUsers.serving, before.servingUserPassword ?? "").fetch(probe)).status).toBe(401);
    const { run: kept } = await mlflow.call<{ run: { info: { status: string }; data: { metrics?: { key: string; value: number }[] } } }>(`runs/get?run_id=${runId}`);
    expect(kept.data.metrics?.find((m) => m.key === "score")?.value).toBe(0.75);
    expect(await artifact(after.authAdminPassword ?? "", `${experimentId}/${runId}`)).toEqual({ status: 200, text: artifactText });
    const { registered_model } = await mlflow.call<{ registered_model: { latest_versions?: { version: string; run_id: string }[] } }>(`registered-models/get?name=${modelName}`);
    expect(registered_model.latest_versions?.map((v) => [v.version, v.run_id])).toEqual([["1", runId]]);
  });

  it("the next run changes nothing and trains nothing, and MLflow keeps the rotated password", async () => {
    const countRuns = async () => (await admin(after.authAdminPassword ?? "").call<{ runs?: unknown[] }>("runs/search", { experiment_ids: [experimentId] })).runs?.length ?? 0;
    const runsBefore = await countRuns();
    const { changes } = await init();
    expect(changes).toBe(0);
    expect(await generated()).toEqual(after);
    expect(await countRuns()).toBe(runsBefore);
    const experiments = await admin(after.authAdminPassword ?? "").call<{ experiments: { name: string }[] }>("experiments/search", { max_results: 100 });
    expect(experiments.experiments.map((e) => e.name).sort()).toEqual(["Default", experimentName].sort());
    // Only the tracking phase ever ran: no training container was started by the rotation or after it.
    expect(stackContainers(stackName).filter((c) => c.topology !== `${stackName}-tracking`)).toEqual([]);
  });
  it("the next make pipeline trains, selects and serves on the rotated passwords, and rotates nothing again", async () => {
    const result = await timedStep("make pipeline", () => stack.make("pipeline"));
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/\[smoke\] POST .*HTTP 200/);
    expect(await generated()).toEqual(after);
    // Every trial was trained and logged by the trainers, which log in as the training user with its rotated password
    // (the queue on the rotated database role, the models through MLflow on the rotated object-store keys).
    const config = stack.config();
    const plan = planStudy(stackName, config.training);
    const runs = await admin(after.authAdminPassword ?? "").studyRuns(config.training.experimentName, plan.study.studyId);
    expect(runs.filter((r) => r.info.status === "FINISHED")).toHaveLength(plan.trials.length);
    const trainers = stackContainers(stackName).filter((c) => c.topology === `${stackName}-training` && /-trainer-\d+$/.test(c.name));
    expect(trainers.length).toBe(config.training.workers);
    // The trainers read this machine's CSV from MLflow's artifact proxy, uploaded once by content, as the training user.
    expect(result.output).toMatch(
      new RegExp(`uploaded dataset rotation-data\\.csv \\(\\d+ bytes, sha256 ${dataSha256.slice(0, 12)}\\) to mlflow-artifacts:/\\d+/datasets/${dataSha256}/rotation-data\\.csv`),
    );
    const rest = admin(after.authAdminPassword ?? "");
    const { experiment } = await rest.call<{ experiment: { experiment_id: string } }>(
      `experiments/get-by-name?experiment_name=${encodeURIComponent(config.training.experimentName)}`,
    );
    const filter = `tags.\`mlops.study_id\` = '${plan.study.studyId}' and tags.\`mlops.role\` = 'study'`;
    const studyRun = (await rest.call<{ runs?: MlflowRun[] }>("runs/search", { experiment_ids: [experiment.experiment_id], filter })).runs ?? [];
    expect(studyRun.map((r) => tag(r, "mlops.dataset_sha256"))).toEqual([dataSha256]);
  });
});
