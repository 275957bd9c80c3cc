import * as pulumi from "@pulumi/pulumi";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { localPaths } from "../../components/local/paths";
import { parseStackConfig } from "../../config";
import { resolveSecrets } from "../../driver/secrets";
import type { PhaseContext, PhaseSecrets } from "../../programs/context";
import { generatedSecretsNeeded } from "../../programs/secrets";
import { installPulumiMocks, isRpcSecret, outputValue, type Registered, secretValue } from "./support/pulumiMocks";
import { trackingCalls } from "./support/recordedTracking";

/**
 * `tracking.database.manage: true` wiring, against Pulumi's mock monitor: which secrets the driver
 * requires, that the role's password is generated unless the user gave one, and that the tracking phase
 * declares the role and database through an explicit provider before the server, which waits for them.
 * The real thing runs in test/integration/managedPostgres.test.ts.
 */

vi.mock("../../programs/platforms", async (importActual) => (await import("./support/recordedTracking")).recordingPlatforms(importActual));

let registered: Registered[] = [];
let tracking: typeof import("../../programs/tracking");
let external: typeof import("../../components/external");

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    if (type.startsWith("kubernetes:")) return { state: { metadata: { ...(inputs.metadata as object), name: `${name}-x` }, status: { succeeded: 1 } } };
    if (type === "docker:index/container:Container") return { state: { exitCode: 0, containerLogs: "" } };
    return { state: { pid: 1 } };
  });
  tracking = await import("../../programs/tracking");
  external = await import("../../components/external");
});

/** Registrations finish asynchronously: let the previous test's land before clearing the record. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

beforeEach(async () => {
  await settle();
  registered.splice(0);
  trackingCalls.splice(0);
});

const database = (extra: Record<string, unknown> = {}) => ({
  kind: "external",
  host: "127.0.0.1",
  port: 5433,
  database: "mlflow_it",
  user: "mlflow_it",
  manage: true,
  adminUser: "dba",
  ...extra,
});
const configOf = (platform: string, db: Record<string, unknown> = database()) =>
  parseStackConfig({ "mlops:platform": platform, "mlops:tracking": { database: db } }, `Pulumi.${platform}.yaml`);

function context(platform: string, secrets: PhaseSecrets, db?: Record<string, unknown>, renderDir?: string): PhaseContext {
  return { stack: "it", config: configOf(platform, db), paths: localPaths("/work/proj", "it"), secrets, ...(renderDir ? { renderDir } : {}) };
}

describe("driver secrets for manage: true", () => {
  it("requires the admin password, naming the variable and the key; the role's password is optional", () => {
    expect(() => resolveSecrets(configOf("local"), {})).toThrow(
      /tracking\.database\.manage is true: .* as dba \(mlops:databaseAdminPassword\) on 127\.0\.0\.1: set MLOPS_DATABASE_ADMIN_PASSWORD/,
    );
    expect(resolveSecrets(configOf("local"), { MLOPS_DATABASE_ADMIN_PASSWORD: "admin-pw" })).toEqual({ databaseAdminPassword: "admin-pw" });
    expect(resolveSecrets(configOf("local"), { MLOPS_DATABASE_ADMIN_PASSWORD: "admin-pw", MLOPS_DATABASE_PASSWORD: "mine" })).toEqual({
      databaseAdminPassword: "admin-pw",
      databasePassword: "mine",
    });
  });

  it("manage: false keeps today's rule: the user's role password from the environment, no admin password", () => {
    const unmanaged = configOf("local", database({ manage: false }));
    expect(() => resolveSecrets(unmanaged, { MLOPS_DATABASE_ADMIN_PASSWORD: "admin-pw" })).toThrow(/set MLOPS_DATABASE_PASSWORD/);
    expect(resolveSecrets(unmanaged, { MLOPS_DATABASE_PASSWORD: "pw", MLOPS_DATABASE_ADMIN_PASSWORD: "ignored" })).toEqual({ databasePassword: "pw" });
  });
});

describe("the role's password", () => {
  it("is generated (a RandomPassword of the tracking phase) unless the user gave one", () => {
    expect(generatedSecretsNeeded(configOf("docker"), {})).toContain("databasePassword");
    expect(generatedSecretsNeeded(configOf("docker"), { databasePassword: "mine" })).not.toContain("databasePassword");
    expect(generatedSecretsNeeded(configOf("docker", database({ manage: false })), {})).not.toContain("databasePassword");
    // The key of the Secret digests on pod templates: kubernetes only, and never the user's to give.
    expect(generatedSecretsNeeded(configOf("docker"), {})).not.toContain("secretDigestKey");
    expect(generatedSecretsNeeded(configOf("kubernetes"), {})).toContain("secretDigestKey");
  });
});

describe("tracking phase with manage: true (mocked postgresql provider)", () => {
  // docker and kubernetes default to an in-stack object store, which needs its keys.
  const objectStoreCredentials = pulumi.secret({ accessKeyId: "AKIATESTKEY000000000", secretAccessKey: "secret-access-key-0123456789" });
  const secrets = (): PhaseSecrets => ({
    databasePassword: pulumi.secret("role-password-0123456789"),
    databaseAdminPassword: pulumi.secret("admin-password-0123456789"),
    objectStoreCredentials,
    secretDigestKey: pulumi.secret("digest-key-0123456789abcdef"),
  });
  const one = (type: string) => {
    const found = registered.filter((r) => r.type === type);
    expect(found, type).toHaveLength(1);
    return found[0] as Registered;
  };

  it.each(["local", "docker", "kubernetes"])("%s: the role and its database through an explicit provider; the server waits for them", async (platform) => {
    tracking.trackingProgram(context(platform, secrets()));
    const dependsOn = trackingCalls[0]?.opts?.dependsOn;
    const managed = Array.isArray(dependsOn) ? dependsOn[0] : undefined;
    expect(managed).toBeInstanceOf(external.ManagedPostgres);
    await outputValue((managed as InstanceType<typeof external.ManagedPostgres>).database);

    const provider = one("pulumi:providers:postgresql");
    expect(provider.inputs).toMatchObject({ host: "127.0.0.1", port: "5433", username: "dba", sslmode: "disable" });
    expect(secretValue(provider.inputs.password)).toBe("admin-password-0123456789");
    const role = one("postgresql:index/role:Role");
    expect(role.inputs).toMatchObject({ name: "mlflow_it", login: true });
    expect(secretValue(role.inputs.password)).toBe("role-password-0123456789");
    expect(role.provider).toContain("it-tracking-database-admin");
    expect(one("postgresql:index/database:Database").inputs).toMatchObject({ name: "mlflow_it", owner: "mlflow_it" });
  });

  it("keeps an explicit sslMode and requires TLS for a remote host by default", async () => {
    tracking.trackingProgram(context("local", secrets(), database({ host: "db.example.com" })));
    tracking.trackingProgram(context("local", secrets(), database({ host: "db2.example.com", sslMode: "verify-full" })));
    await settle();
    const modes = registered.filter((r) => r.type === "pulumi:providers:postgresql").map((r) => [r.inputs.host, r.inputs.sslmode]);
    expect(modes).toEqual([
      ["db.example.com", "require"],
      ["db2.example.com", "verify-full"],
    ]);
  });

  it("without the admin password fails before any resource is declared, naming the key", () => {
    expect(() => tracking.trackingPhase(context("local", { databasePassword: pulumi.secret("role-password-0123456789") }))).toThrow(
      /tracking\.database\.manage is true but there is no password for dba: set MLOPS_DATABASE_ADMIN_PASSWORD .*mlops:databaseAdminPassword/,
    );
    expect(registered).toEqual([]);
  });

  it("declares nothing for manage: false, nor in render mode", () => {
    tracking.trackingProgram(context("local", { databasePassword: pulumi.secret("role-password-0123456789") }, database({ manage: false })));
    tracking.trackingProgram(context("kubernetes", secrets(), database(), "/tmp/render"));
    expect(registered.filter((r) => r.type.startsWith("postgresql:") || r.type === "pulumi:providers:postgresql")).toEqual([]);
    expect(trackingCalls.map((c) => c.opts)).toEqual([undefined, undefined]);
  });

  it("hands the generated role password, as a secret, to both the role and the server", async () => {
    const outputs = tracking.trackingPhase(context("local", { databaseAdminPassword: pulumi.secret("admin-password-0123456789") }));
    await outputValue(outputs.driverTrackingUri);
    expect(one("random:index/randomPassword:RandomPassword").name).toBe("it-secrets-database-password");
    expect(isRpcSecret(one("postgresql:index/role:Role").inputs.password)).toBe(true);
  });
});
