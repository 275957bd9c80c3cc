import * as pulumi from "@pulumi/pulumi";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { installPulumiMocks, type Registered, secretValue } from "./support/pulumiMocks";

/**
 * `pulumi up` on index.ts (the whole pipeline in one stack) under Pulumi's mock monitor: the config and
 * secrets as the engine hands them over (`allConfig`, secrets decrypted and listed as secret keys), the
 * program run by importing the module, as the language host does.
 */

let registered: Registered[] = [];

beforeAll(async () => {
  registered = await installPulumiMocks(() => ({ state: { pid: 1 } }));
});

beforeEach(() => {
  registered.splice(0);
  vi.resetModules();
});

const training = { estimator: "random_forest", searchSpace: { n_estimators: { values: [30] } }, strategy: { kind: "grid" }, cvFolds: 3, workers: 1 };

/** Runs index.ts with these `mlops:` values; `secrets` are set as `pulumi config set --secret` would. */
async function up(plain: Record<string, unknown>, secrets: Record<string, string>): Promise<unknown> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(plain)) values[`mlops:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  for (const [key, value] of Object.entries(secrets)) values[`mlops:${key}`] = value;
  pulumi.runtime.setAllConfig(
    values,
    Object.keys(secrets).map((key) => `mlops:${key}`),
  );
  try {
    await import("../../index");
    // Registrations finish on the event loop after the program returns.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return undefined;
  } catch (err) {
    return err;
  }
}

const externalDatabase = (passwordSecret?: string) => ({
  database: { kind: "external", host: "db.example.com", ...(passwordSecret ? { passwordSecret } : {}) },
  objectStore: { kind: "localFolder" },
});

/** The secret env of the MLflow process: where an external database's password ends up (in its URI). */
function trackingSecretEnv(): Record<string, string> {
  const mlflow = registered.find((r) => r.type === "pulumi-nodejs:dynamic/local:Process" && r.name.includes("tracking"));
  expect(mlflow, `registered: ${registered.map((r) => r.name).join(", ")}`).toBeDefined();
  return secretValue<Record<string, string>>(mlflow?.inputs.secretEnv);
}

describe("index.ts: the stack's secrets under the names the config gives them", () => {
  it("reads a renamed passwordSecret (tracking.database.passwordSecret: pgPassword) and hands it to MLflow only as a secret", async () => {
    const err = await up({ platform: "local", tracking: externalDatabase("pgPassword"), training }, { pgPassword: "renamed-password-0123" });
    expect(err).toBeUndefined();
    expect(trackingSecretEnv().MLFLOW_BACKEND_STORE_URI).toContain("renamed-password-0123");
  });

  it("reads the default key when nothing is renamed", async () => {
    const err = await up({ platform: "local", tracking: externalDatabase(), training }, { databasePassword: "default-password-0123" });
    expect(err).toBeUndefined();
    expect(trackingSecretEnv().MLFLOW_BACKEND_STORE_URI).toContain("default-password-0123");
  });

  it("with the renamed key unset, asks for that key (not databasePassword, which it ignores)", async () => {
    const err = await up({ platform: "local", tracking: externalDatabase("pgPassword"), training }, { databasePassword: "not-this-one" });
    expect(String(err)).toMatch(/set the password with `pulumi config set --secret mlops:pgPassword`/);
  });

  it("still refuses a secret's key set as a plain value, naming the key", async () => {
    const err = await up({ platform: "local", tracking: externalDatabase("pgPassword"), training, pgPassword: "plain-text" }, {});
    expect(String(err)).toMatch(/mlops:pgPassword: expected a secret: set it with `pulumi config set --secret mlops:pgPassword`/);
  });

  it("reads a renamed S3 key pair", async () => {
    const tracking = { objectStore: { kind: "s3", bucket: "team-models", accessKeySecret: "teamKeyId", secretKeySecret: "teamKey" } };
    const err = await up({ platform: "local", tracking, training }, { teamKeyId: "AKIATEAMKEY000000000", teamKey: "team-secret-key-0123456789" });
    expect(err).toBeUndefined();
    expect(Object.values(trackingSecretEnv())).toEqual(expect.arrayContaining(["AKIATEAMKEY000000000", "team-secret-key-0123456789"]));
  });
});
