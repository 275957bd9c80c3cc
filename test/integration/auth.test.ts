/**
 * MLflow basic auth on the local platform, for real: `make pipeline` on a private stack with
 * `tracking.auth.enabled: true`. The driver, the trainer workers and the model servers all have to
 * authenticate for the pipeline to finish; the tracking server refuses anonymous requests; trainers
 * and model servers log in as the least-privilege users the driver keeps (driver/mlflowUsers.ts), never
 * as the admin; and the generated admin password stays out of logs, command lines, every process's
 * environment and the Pulumi state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStudy } from "../../components/shared";
import { mlflowServiceUsers } from "../../components/shared/mlflowAuth";
import { loadMetricsConfig, metricsConfigPath } from "../../config";
import { secretsFile } from "../../driver/secrets";
import { generatedSecretsOf } from "../support/stackSecrets";
import { timedStep } from "../support/commands";
import { type BasicCredentials, MlflowRest } from "../support/mlflowRest";
import { repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { commandLinesContaining, filesContaining } from "../support/secretScan";

const ports = { mlflow: 5281, replica: 8281, lb: 8280 };
const dataDir = ".pipeline/it-auth";
// An empty MLOPS_AUTH_ADMIN_PASSWORD makes the driver generate the password, as for a new user.
const stack = new TestStack("it-auth", () => ({ MLOPS_AUTH_ADMIN_PASSWORD: "" }));
const stateDir = path.join(repoRoot, ".pipeline");
const trackingUri = `http://127.0.0.1:${ports.mlflow}`;

// The generated admin password, read from the tracking stack's secret output once the pipeline ran.
let generatedAdmin = "";
function adminCredentials(): BasicCredentials {
  return { username: stack.config().tracking.auth.adminUser, password: generatedAdmin };
}

const canRun = canRunPipelineSuite("auth integration", { services: false });

/** `pid: command line` of every process whose environment holds the secret (this user's processes only). */
function environmentsContaining(secret: string): string[] {
  const hits: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`).includes(secret)) hits.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")}`);
    } catch {
      /* exited, or not ours */
    }
  }
  return hits;
}

/** The MLflow login of every running trainer or model server of this stack: `role -> usernames seen`. */
const loginsSeen: Record<"trainer" | "server", Set<string>> = { trainer: new Set(), server: new Set() };
function recordLogins(): void {
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const role = cmdline.includes(path.join(repoRoot, "images", "trainer")) ? "trainer" : cmdline.includes(path.join(repoRoot, "images", "serving")) ? "server" : undefined;
      if (!role) continue;
      const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      // Only this stack's processes: other runs (a benchmark, another test) use other servers.
      if (!env.includes(`MLFLOW_TRACKING_URI=${trackingUri}`)) continue;
      const user = env.find((v) => v.startsWith("MLFLOW_TRACKING_USERNAME="));
      loginsSeen[role].add(user?.slice("MLFLOW_TRACKING_USERNAME=".length) ?? "(none)");
    } catch {
      /* exited while we looked */
    }
  }
}

const settings = {
  tracking: {
    port: ports.mlflow,
    database: { kind: "sqlite", path: `${dataDir}/mlflow.db` },
    objectStore: { kind: "localFolder", path: `${dataDir}/artifacts` },
    auth: { enabled: true },
  },
  serving: { port: ports.replica, loadBalancerPort: ports.lb },
};

describe.skipIf(!canRun)("MLflow basic auth on the local platform (real MLflow server, workers, model servers)", () => {
  beforeAll(async () => {
    stack.write(settings, "test/integration/auth.test.ts");
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    // A new user's first run: no runs and no generated password yet (a new password gets a fresh users database).
    // The shared trial queue of an earlier run (same content-addressed study id) would say every trial is done.
    const studies = path.join(stateDir, "studies");
    const queues = fs.existsSync(studies)
      ? fs
          .readdirSync(studies)
          .filter((d) => d.startsWith(`${stack.name}-`))
          .map((d) => path.join(studies, d))
      : [];
    for (const stale of [path.join(repoRoot, dataDir), secretsFile(stateDir, stack.name), ...queues]) fs.rmSync(stale, { recursive: true, force: true });
  });

  afterAll(async () => {
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    expect(removed.status, removed.output).toBe(0);
  });

  it("runs make pipeline end to end with auth on: driver, workers and model servers authenticate", async () => {
    // Trainers live only while the pipeline runs: their logins are sampled from /proc meanwhile.
    const sampler = setInterval(recordLogins, 150);
    const run = await timedStep("make pipeline", () => stack.make("pipeline")).finally(() => clearInterval(sampler));
    recordLogins();
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/auth: on/);
    expect(run.output).toMatch(/\[smoke\] POST .*HTTP 200/);
    generatedAdmin = (await generatedSecretsOf(stack.name)).values.authAdminPassword ?? "";
  });

  it("generated an admin password MLflow accepts, kept in the encrypted state, not in a loose file", () => {
    expect(fs.existsSync(secretsFile(stateDir, stack.name))).toBe(false);
    expect(adminCredentials().password.length).toBeGreaterThanOrEqual(12); // MLflow refuses shorter admin passwords
    expect(fs.statSync(path.join(stack.runDir, "basic_auth.ini")).mode & 0o777).toBe(0o600);
  });

  it("answers 401 without credentials or with a wrong password, and 200 with the admin's", async () => {
    const experiment = `experiments/get-by-name?experiment_name=${encodeURIComponent(stack.config().training.experimentName)}`;
    const mlflow = new MlflowRest(trackingUri, adminCredentials());
    expect((await mlflow.fetch(experiment, undefined, null)).status).toBe(401);
    expect((await mlflow.fetch(experiment, undefined, { username: adminCredentials().username, password: "not-the-password" })).status).toBe(401);
    expect((await mlflow.fetch(experiment, undefined)).status).toBe(200);
  });

  it("holds every trial, logged by authenticated workers, and serves the champion", async () => {
    const config = stack.config();
    const plan = planStudy(stack.name, config.training);
    const runs = await new MlflowRest(trackingUri, adminCredentials()).studyRuns(config.training.experimentName, plan.study.studyId);
    expect(runs.filter((r) => r.info.status === "FINISHED")).toHaveLength(plan.trials.length);
    const metrics = loadMetricsConfig(metricsConfigPath(repoRoot));
    const champion = await new MlflowRest(trackingUri, adminCredentials()).aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
    const served = (await (await fetch(`http://127.0.0.1:${ports.lb}/version`)).json()) as { version: string };
    expect(served.version).toBe(champion.version);
  });

  it("logs trainers in as the training user and model servers as the serving user, never as the admin", () => {
    expect([...loginsSeen.trainer]).toEqual([mlflowServiceUsers.training]);
    expect([...loginsSeen.server]).toEqual([mlflowServiceUsers.serving]);
  });

  it("gives each service user only its own rights (real 403s from the pipeline's MLflow)", async () => {
    const generated = (await generatedSecretsOf(stack.name)).values;
    const training = new MlflowRest(trackingUri, { username: mlflowServiceUsers.training, password: generated.trainingUserPassword ?? "" });
    const serving = new MlflowRest(trackingUri, { username: mlflowServiceUsers.serving, password: generated.servingUserPassword ?? "" });
    const { registeredModel } = loadMetricsConfig(metricsConfigPath(repoRoot));
    const champion = await new MlflowRest(trackingUri, adminCredentials()).aliasVersion(registeredModel.name, registeredModel.alias);
    const { experiment } = await serving.call<{ experiment: { experiment_id: string } }>(
      `experiments/get-by-name?experiment_name=${encodeURIComponent(stack.config().training.experimentName)}`,
    );
    const moveAlias = { name: registeredModel.name, alias: registeredModel.alias, version: champion.version };
    expect((await training.fetch("registered-models/alias", moveAlias)).status).toBe(403);
    expect((await serving.fetch("registered-models/alias", moveAlias)).status).toBe(403);
    expect((await serving.fetch("runs/create", { experiment_id: experiment.experiment_id, start_time: Date.now() })).status).toBe(403);
    expect((await serving.fetch(`registered-models/alias?name=${registeredModel.name}&alias=${registeredModel.alias}`)).status).toBe(200);
  });

  it("keeps the admin password out of the stack's logs, every command line and environment, and the Pulumi state", () => {
    expect(generatedAdmin.length).toBeGreaterThanOrEqual(12);
    const { password } = adminCredentials();
    expect(filesContaining(password, [stack.logDir])).toEqual([]);
    expect(commandLinesContaining(password)).toEqual([]);
    expect(environmentsContaining(password)).toEqual([]);
    expect(filesContaining(password, [path.join(repoRoot, ".pulumi-state")])).toEqual([]);
    // The scan can see it: the 0600 files that must hold it do.
    expect(filesContaining(password, [path.join(stack.runDir, "basic_auth.ini")])).toHaveLength(1);
  });
  it("make rotate-secrets with a new study: every password is new, training and serving run on the new ones, every old one is refused", async () => {
    const before = (await generatedSecretsOf(stack.name)).values;
    // Another seed is another study: its trials are trained by workers logging in with the rotated passwords.
    stack.write({ ...settings, training: { seed: 7 } }, "test/integration/auth.test.ts");
    const rotated = await timedStep("make rotate-secrets", () => stack.make("rotate-secrets"));
    expect(rotated.status, rotated.output).toBe(0);
    expect(rotated.output).toMatch(/\[smoke\] POST .*HTTP 200/);
    const after = (await generatedSecretsOf(stack.name)).values;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const name of ["authAdminPassword", "trainingUserPassword", "servingUserPassword"]) {
      expect(before[name], name).toBeTruthy();
      expect(after[name], `${name} rotated`).not.toBe(before[name]);
    }
    generatedAdmin = after.authAdminPassword ?? "";
    const config = stack.config();
    const experiment = `experiments/get-by-name?experiment_name=${encodeURIComponent(config.training.experimentName)}`;
    const logins = [
      [adminCredentials().username, "authAdminPassword"],
      [mlflowServiceUsers.training, "trainingUserPassword"],
      [mlflowServiceUsers.serving, "servingUserPassword"],
    ] as const;
    const probe = new MlflowRest(trackingUri, adminCredentials());
    for (const [username, name] of logins) {
      expect((await probe.fetch(experiment, undefined, { username, password: before[name] ?? "" })).status, `${username}'s old password`).toBe(401);
      expect((await probe.fetch(experiment, undefined, { username, password: after[name] ?? "" })).status, `${username}'s new password`).toBe(200);
    }
    // The new study trained to the end on the rotated passwords, and the fleet serves its champion.
    const plan = planStudy(stack.name, config.training);
    const runs = await probe.studyRuns(config.training.experimentName, plan.study.studyId);
    expect(runs.filter((r) => r.info.status === "FINISHED")).toHaveLength(plan.trials.length);
    const { registeredModel } = loadMetricsConfig(metricsConfigPath(repoRoot));
    const champion = await probe.aliasVersion(registeredModel.name, registeredModel.alias);
    const served = (await (await fetch(`http://127.0.0.1:${ports.lb}/version`)).json()) as { version: string };
    expect(served.version).toBe(champion.version);
  });
});
