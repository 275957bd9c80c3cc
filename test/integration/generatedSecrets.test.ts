/**
 * Generated passwords owned by Pulumi, for real: the local platform's tracking phase (real engine, real
 * random plugin, real MLflow with basic auth) on a private stack, in the order a user lives it:
 *   1. an old stack: MLflow's admin password came from outside Pulumi, and an experiment holds a run;
 *   2. migration: the old `.pipeline/secrets/<stack>.json` is adopted (same password, the run kept) and removed;
 *   3. `--rotate-secrets`: a new RandomPassword, MLflow takes the new one and refuses the old, the run kept;
 *   4. every local secrets file deleted: the next run changes nothing and MLflow still takes the password.
 * Throughout, the passwords appear in the exported state only encrypted, and never in a file in plain text.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectName } from "../../driver/phaseStack";
import { secretsFile } from "../../driver/secrets";
import { timedStep } from "../support/commands";
import { MlflowRest } from "../support/mlflowRest";
import { repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { filesContaining } from "../support/secretScan";
import { generatedSecretsOf } from "../support/stackSecrets";
import { testPorts } from "../support/testPorts";

const ports = testPorts("test/integration/generatedSecrets.test.ts");
// An empty MLOPS_AUTH_ADMIN_PASSWORD: the stack generates the password (the users' own would win).
const stack = new TestStack("it-secrets", () => ({ MLOPS_AUTH_ADMIN_PASSWORD: "" }));
/** Where stack.embeddedTracking keeps MLflow's database and artifacts. */
const dataDir = `.pipeline/${stack.name}`;
const stateDir = path.join(repoRoot, ".pipeline");
const legacyFile = secretsFile(stateDir, stack.name);
const trackingUri = `http://127.0.0.1:${ports.mlflow}`;
// Fresh per run: local MLflow keeps one users database per admin password, and this run's must be new.
const oldPassword = `old-admin-${crypto.randomBytes(12).toString("hex")}`;
const passwordType = "random:index/randomPassword:RandomPassword";

const canRun = canRunPipelineSuite("generated secrets integration", { services: false });

async function generated(): Promise<Record<string, string>> {
  const { secret, values } = await generatedSecretsOf(stack.name);
  expect(secret).toBe(true);
  return values;
}

const admin = (password: string) => new MlflowRest(trackingUri, { username: "admin", password });
const experimentName = "it-secrets-kept-runs";

async function runIds(password: string): Promise<string[]> {
  const mlflow = admin(password);
  const { experiment } = await mlflow.call<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${experimentName}`);
  const found = await mlflow.call<{ runs?: { info: { run_id: string } }[] }>("runs/search", { experiment_ids: [experiment.experiment_id] });
  return (found.runs ?? []).map((r) => r.info.run_id);
}

async function init(extra: string[] = [], env: Record<string, string> = {}) {
  const run = await timedStep(`pipeline --phase init ${extra.join(" ")}`, () => stack.driver(["--phase", "init", ...extra], env));
  expect(run.status, run.output).toBe(0);
  return { output: run.output, changes: stack.lastRun().phases.find((p) => p.name === "init")?.resourceChanges };
}

/** `make preview` plans nothing for the tracking stack: kept and adopted passwords are not regenerated. */
async function expectTrackingPreviewUnchanged() {
  const preview = await timedStep("make preview", () => stack.make("preview"));
  expect(preview.status, preview.output).toBe(0);
  expect(preview.output).toContain("[preview] tracking: 0 to create, 0 to update, 0 to replace, 0 to delete");
}

/** The state holds the value only encrypted: no state file (history and backups included) nor log shows it. */
function expectOnlyEncrypted(password: string) {
  expect(filesContaining(password, [path.join(repoRoot, ".pulumi-state"), stack.logDir])).toEqual([]);
}

/** The tracking stack's checkpoint as stored on disk (`exportStack()` would decrypt: it passes --show-secrets). */
function storedResources(): { type: string; urn: string; outputs?: Record<string, unknown> }[] {
  const file = path.join(repoRoot, ".pulumi-state", ".pulumi", "stacks", projectName, `${stack.name}-tracking.json`);
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint: { latest: { resources: [] } } }).checkpoint.latest.resources;
}

describe.skipIf(!canRun)("generated passwords as RandomPasswords in the tracking stack (local platform, real engine and MLflow)", () => {
  let runId = "";
  let rotated = "";

  beforeAll(async () => {
    stack.write(
      {
        tracking: { ...stack.embeddedTracking(ports.mlflow), auth: { enabled: true } },
        serving: { port: ports.replica, loadBalancerPort: ports.lb },
      },
      "test/integration/generatedSecrets.test.ts",
    );
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    for (const stale of [path.join(repoRoot, dataDir), legacyFile]) fs.rmSync(stale, { recursive: true, force: true });
  });

  afterAll(async () => {
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    expect(removed.status, removed.output).toBe(0);
    fs.rmSync(legacyFile, { force: true });
  });

  it("an old stack: MLflow runs with an admin password from outside Pulumi and holds a run", async () => {
    await init([], { MLOPS_AUTH_ADMIN_PASSWORD: oldPassword });
    // Only the MLflow users' passwords are generated (always, with auth on); the admin's came from outside.
    expect(Object.keys(await generated()).sort()).toEqual(["servingUserPassword", "trainingUserPassword"]);
    const mlflow = admin(oldPassword);
    const { experiment_id } = await mlflow.call<{ experiment_id: string }>("experiments/create", { name: experimentName });
    const { run } = await mlflow.call<{ run: { info: { run_id: string } } }>("runs/create", { experiment_id, start_time: Date.now() });
    runId = run.info.run_id;
    expect(await runIds(oldPassword)).toEqual([runId]);
  });

  it("adopts the old secrets file's password: same admin, same runs, the file removed", async () => {
    fs.mkdirSync(path.dirname(legacyFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(legacyFile, JSON.stringify({ authAdminPassword: oldPassword }), { mode: 0o600 });
    const { output } = await init();
    expect(output).toContain(`removed ${path.relative(repoRoot, legacyFile)}`);
    expect(fs.existsSync(legacyFile)).toBe(false);
    expect((await generated()).authAdminPassword).toBe(oldPassword);
    expect(await runIds(oldPassword)).toEqual([runId]);
    expectOnlyEncrypted(oldPassword);
    await expectTrackingPreviewUnchanged();
  });

  it("--rotate-secrets replaces it with a RandomPassword: MLflow takes the new one and refuses the old, runs kept", async () => {
    await init(["--rotate-secrets"]);
    rotated = (await generated()).authAdminPassword ?? "";
    expect(rotated).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(rotated).not.toBe(oldPassword);
    expect(await runIds(rotated)).toEqual([runId]);
    expect((await admin(oldPassword).fetch(`experiments/get-by-name?experiment_name=${experimentName}`)).status).toBe(401);
    const passwords = storedResources().filter((r) => r.type === passwordType);
    expect(passwords.map((r) => r.urn.split("::").pop())).toContain(`${stack.name}-secrets-auth-admin-password`);
    // The result is stored as a Pulumi secret: the secret signature with a ciphertext, no plaintext.
    expect(passwords.find((r) => r.urn.endsWith("-secrets-auth-admin-password"))?.outputs?.result).toEqual({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      ciphertext: expect.any(String),
    });
    expectOnlyEncrypted(rotated);
  });

  it("with every local secrets file deleted the next run changes nothing and MLflow still takes the password", async () => {
    fs.rmSync(path.join(stateDir, "secrets"), { recursive: true, force: true });
    const { changes } = await init();
    expect(changes).toBe(0);
    await expectTrackingPreviewUnchanged();
    expect((await generated()).authAdminPassword).toBe(rotated);
    expect(await runIds(rotated)).toEqual([runId]);
    expect(fs.existsSync(legacyFile)).toBe(false);
  });
});
