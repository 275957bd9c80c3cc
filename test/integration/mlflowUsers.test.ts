/**
 * Least privilege in MLflow, for real: a basic-auth `mlflow server` from the project's venv, configured by
 * the same ini every platform renders (so it runs the cached auth check of images/mlflow), and the
 * driver's users and permissions (driver/mlflowUsers.ts, over components/registry/mlflowAccess.ts). The training user writes runs in the study's
 * experiment and nothing else; the serving user reads the champion and nothing else; each refusal is
 * MLflow's own 403.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authModuleDir, deriveFlaskSecretKey, mlflowServiceUsers, renderAuthIni } from "../../components/shared/mlflowAuth";
import { type AccessArgs, grantServingAccess, grantTrainingAccess } from "../../components/registry/mlflowAccess";
import { type RunningCommand, startCommand, waitFor } from "../support/commands";
import { type BasicCredentials, MlflowRest } from "../support/mlflowRest";
import { repoRoot } from "../support/pipelineStack";
import { freePort } from "../support/replicaFixtures";
import { skipOrFailInCI } from "../support/skips";

const mlflowBin = path.join(repoRoot, ".venv", "bin", "mlflow");
const skipped = skipOrFailInCI("MLflow users integration", fs.existsSync(mlflowBin) ? undefined : `no ${mlflowBin} (run \`make venv\`)`);

const password = () => crypto.randomBytes(16).toString("hex");
const experimentName = "it-mlflow-users-study";
const modelName = "it-mlflow-users-model";
const admin: BasicCredentials = { username: "admin", password: password() };
const passwords = { training: password(), serving: password() };
const training: BasicCredentials = { username: mlflowServiceUsers.training, password: passwords.training };
const serving: BasicCredentials = { username: mlflowServiceUsers.serving, password: passwords.serving };

let root = "";
let server: RunningCommand | undefined;
let uri = "";
const access = (): AccessArgs => ({ trackingUri: uri, adminUser: admin.username, adminPassword: admin.password, passwords });
const as = (who: BasicCredentials) => new MlflowRest(uri, who);
const basic = (who: BasicCredentials) => `Basic ${Buffer.from(`${who.username}:${who.password}`).toString("base64")}`;

/** The artifact proxy MLflow clients upload to and download from (`mlflow-artifacts:/<experiment>/<run>/artifacts/...`). */
function artifact(who: BasicCredentials, artifactPath: string, body?: string): Promise<Response> {
  const url = `${uri}/api/2.0/mlflow-artifacts/artifacts/${artifactPath}`;
  return fetch(url, { method: body === undefined ? "GET" : "PUT", headers: { authorization: basic(who) }, body });
}

// Ids the steps below share.
let studyExperimentId = "";
let runId = "";

describe.skipIf(skipped)("MLflow least-privilege users (real basic-auth server, cached auth check)", () => {
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "mlflow-users-"));
    const port = await freePort();
    uri = `http://127.0.0.1:${port}`;
    const ini = path.join(root, "basic_auth.ini");
    fs.writeFileSync(ini, renderAuthIni({ databaseUri: `sqlite:///${root}/auth.db`, adminUser: admin.username, adminPassword: admin.password }), { mode: 0o600 });
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MLFLOW_")));
    server = startCommand(
      "mlflow server (basic auth)",
      mlflowBin,
      [
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--workers",
        "1",
        "--backend-store-uri",
        `sqlite:///${root}/mlflow.db`,
        "--serve-artifacts",
        "--artifacts-destination",
        `file://${root}/artifacts`,
        "--app-name",
        "basic-auth",
      ],
      {
        cwd: root,
        env: { ...env, MLFLOW_AUTH_CONFIG_PATH: ini, MLFLOW_FLASK_SERVER_SECRET_KEY: deriveFlaskSecretKey(admin.password), PYTHONPATH: path.join(repoRoot, authModuleDir) },
        timeoutMs: 600_000,
      },
    );
    await waitFor("the MLflow server's /health", async () => ((await fetch(`${uri}/health`)).ok ? true : undefined), 180_000);
  });

  afterAll(async () => {
    if (server && server.pid > 0) {
      process.kill(-server.pid, "SIGTERM");
      await server.done;
    }
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("creates both users and the study experiment's permissions, and changes nothing the second time", async () => {
    const first = await grantTrainingAccess(access(), experimentName);
    expect(first).toEqual([
      `created MLflow user ${training.username}`,
      `created MLflow user ${serving.username}`,
      `${training.username}: EDIT on experiment ${experimentName}`,
      `${serving.username}: READ on experiment ${experimentName}`,
    ]);
    expect(await grantTrainingAccess(access(), experimentName)).toEqual([]);
    const user = await as(admin).call<{ user: { is_admin: boolean } }>(`users/get?username=${training.username}`);
    expect(user.user.is_admin).toBe(false);
  });

  it("lets the training user write runs and artifacts in the study's experiment only", async () => {
    studyExperimentId = (await as(admin).call<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${experimentName}`)).experiment.experiment_id;
    const created = await as(training).fetch("runs/create", { experiment_id: studyExperimentId, start_time: Date.now() });
    expect(created.status, await created.clone().text()).toBe(200);
    runId = ((await created.json()) as { run: { info: { run_id: string } } }).run.info.run_id;
    expect((await as(training).fetch("runs/log-batch", { run_id: runId, metrics: [{ key: "accuracy", value: 0.9, timestamp: Date.now(), step: 0 }] })).status).toBe(200);
    expect((await artifact(training, `${studyExperimentId}/${runId}/artifacts/model/MLmodel`, "flavors: {}\n")).status).toBe(200);

    const { experiment_id: other } = await as(admin).call<{ experiment_id: string }>("experiments/create", { name: "it-mlflow-users-other" });
    expect((await as(training).fetch("runs/create", { experiment_id: other, start_time: Date.now() })).status).toBe(403);
    expect((await artifact(training, `${other}/x/artifacts/model/MLmodel`, "x")).status).toBe(403);
  });

  it("refuses the training user registering a model version or moving the alias (403)", async () => {
    await as(admin).call("registered-models/create", { name: modelName });
    const source = `mlflow-artifacts:/${studyExperimentId}/${runId}/artifacts/model`;
    const { model_version } = await as(admin).call<{ model_version: { version: string } }>("model-versions/create", { name: modelName, source, run_id: runId });
    await as(admin).call("registered-models/alias", { name: modelName, alias: "champion", version: model_version.version });

    expect((await as(training).fetch("model-versions/create", { name: modelName, source, run_id: runId })).status).toBe(403);
    expect((await as(training).fetch("registered-models/alias", { name: modelName, alias: "champion", version: model_version.version })).status).toBe(403);
  });

  it("lets the serving user read the champion and download its artifacts, and refuses runs and alias changes (403)", async () => {
    expect(await grantServingAccess(access(), modelName)).toEqual([`${serving.username}: READ on registered model ${modelName}`]);
    expect(await grantServingAccess(access(), modelName)).toEqual([]);

    const alias = await as(serving).fetch(`registered-models/alias?name=${modelName}&alias=champion`);
    expect(alias.status).toBe(200);
    const { model_version } = (await alias.json()) as { model_version: { version: string } };
    expect((await as(serving).fetch(`model-versions/get-download-uri?name=${modelName}&version=${model_version.version}`)).status).toBe(200);
    const download = await artifact(serving, `${studyExperimentId}/${runId}/artifacts/model/MLmodel`);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe("flavors: {}\n");

    expect((await as(serving).fetch("runs/create", { experiment_id: studyExperimentId, start_time: Date.now() })).status).toBe(403);
    expect((await as(serving).fetch("runs/log-batch", { run_id: runId, metrics: [{ key: "accuracy", value: 0.1, timestamp: Date.now(), step: 0 }] })).status).toBe(403);
    expect((await as(serving).fetch("registered-models/alias", { name: modelName, alias: "champion", version: model_version.version })).status).toBe(403);
    expect((await artifact(serving, `${studyExperimentId}/${runId}/artifacts/model/MLmodel`, "tampered")).status).toBe(403);
  });

  it("answers 401 to a wrong password right after the right one was accepted (the cache holds accepted logins only)", async () => {
    const probe = `experiments/get-by-name?experiment_name=${experimentName}`;
    expect((await as(training).fetch(probe)).status).toBe(200);
    expect((await as(training).fetch(probe, undefined, { ...training, password: `${training.password}x` })).status).toBe(401);
    expect((await as(training).fetch(probe, undefined, { ...training, username: serving.username })).status).toBe(401);
  });

  it("sets a rotated password anew and demotes a service user someone made admin", async () => {
    const patch = await fetch(`${uri}/api/2.0/mlflow/users/update-admin`, {
      method: "PATCH",
      headers: { authorization: basic(admin), "content-type": "application/json" },
      body: JSON.stringify({ username: serving.username, is_admin: true }),
    });
    expect(patch.status).toBe(200);
    const rotated = { ...passwords, training: password() };
    const changes = await grantTrainingAccess({ ...access(), passwords: rotated }, experimentName);
    expect(changes).toEqual([`set the password of ${training.username}`, `${serving.username} is no admin any more`]);
    expect((await as({ ...training, password: rotated.training }).fetch(`experiments/get-by-name?experiment_name=${experimentName}`)).status).toBe(200);
    expect((await as(serving).fetch("runs/create", { experiment_id: studyExperimentId, start_time: Date.now() })).status).toBe(403);
  });
});
