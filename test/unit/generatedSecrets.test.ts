// Generated passwords: the RandomPassword component, the tracking phase's outputs, the StackReference of
// later phases (Pulumi mocks), and the driver's migration from the old secrets file (plain functions).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { localPaths } from "../../components/local/paths";
import { mlflowServiceUsers } from "../../components/shared/mlflowAuth";
import { parseStackConfig } from "../../config";
import { installPulumiMocks, outputValue, type Registered } from "./support/pulumiMocks";

const passwordType = "random:index/randomPassword:RandomPassword";
let registered: Registered[] = [];
let shared: typeof import("../../components/shared/generatedSecrets");
let programs: typeof import("../../programs/secrets");
let driver: typeof import("../../driver/stackSecrets");
let context: typeof import("../../programs/context");

beforeAll(async () => {
  registered = await installPulumiMocks((r) => {
    if (r.type === passwordType) return { state: { result: `pw-${r.name}-${"x".repeat(Number(r.inputs.length))}` } };
    if (r.type === "pulumi:pulumi:StackReference")
      return {
        state: {
          outputs: {
            generatedSecrets: {
              authAdminPassword: "from-the-tracking-stack",
              databasePassword: "db-from-tracking",
              trainingUserPassword: "trainer-pw",
              servingUserPassword: "server-pw",
            },
          },
        },
      };
    return {};
  });
  shared = await import("../../components/shared/generatedSecrets");
  programs = await import("../../programs/secrets");
  driver = await import("../../driver/stackSecrets");
  context = await import("../../programs/context");
});

const dockerConfig = parseStackConfig({ "mlops:platform": "docker", "mlops:tracking": { auth: { enabled: true } } }, "Pulumi.dev.yaml");
const ctxOf = (stack: string, extra: Record<string, unknown> = {}) => ({ stack, config: dockerConfig, paths: localPaths("/repo", stack), secrets: {}, ...extra });
const passwordsOf = (prefix: string) => registered.filter((r) => r.type === passwordType && r.name.startsWith(prefix));

describe("GeneratedSecrets (RandomPassword per generated password)", () => {
  it("makes letters-and-digits passwords of fixed lengths, frozen outside a rotation", () => {
    expect(shared.passwordArgs("objectStoreAccessKeyId")).toMatchObject({ length: 20, special: false, upper: true, lower: true, numeric: true });
    expect(shared.passwordArgs("databasePassword").keepers).toBeUndefined();
    expect(shared.passwordArgs("databasePassword", "2026-12-01T00:00:00Z").keepers).toEqual({ rotation: "2026-12-01T00:00:00Z" });
    expect(shared.passwordOptions().ignoreChanges).toEqual(expect.arrayContaining(["length", "special", "keepers"]));
    expect(shared.passwordOptions("token").ignoreChanges).toBeUndefined();
  });

  it("adopts given values until a rotation, then every password is a RandomPassword", () => {
    const names = ["databasePassword", "authAdminPassword"] as const;
    expect(shared.planGeneratedSecrets({ names, adopted: { authAdminPassword: "old" } })).toEqual({ databasePassword: "random", authAdminPassword: "adopted" });
    expect(shared.planGeneratedSecrets({ names, adopted: { authAdminPassword: "old" }, rotation: "t" })).toEqual({ databasePassword: "random", authAdminPassword: "random" });
  });

  it("refuses an unknown name", () => {
    expect(() => new shared.GeneratedSecrets("bad", { names: ["sshKey" as "databasePassword"] })).toThrow(/unknown secret name\(s\) sshKey/);
  });
});

describe("tracking phase outputs", () => {
  it("creates one RandomPassword per in-stack password and exports them only as secrets", async () => {
    const { ctx, outputs } = programs.withGeneratedSecrets(ctxOf("dev"));
    const all = outputs.generatedSecrets as pulumi.Output<Record<string, string>>;
    expect(await pulumi.isSecret(all)).toBe(true);
    expect(Object.keys(await outputValue(all)).sort()).toEqual([
      "authAdminPassword",
      "databasePassword",
      "objectStoreAccessKeyId",
      "objectStoreSecretKey",
      "servingUserPassword",
      "trainingUserPassword",
    ]);
    expect(
      passwordsOf("dev-secrets-")
        .map((r) => r.name)
        .sort(),
    ).toEqual(
      [
        "dev-secrets-auth-admin-password",
        "dev-secrets-database-password",
        "dev-secrets-object-store-access-key-id",
        "dev-secrets-object-store-secret-key",
        "dev-secrets-training-user-password",
        "dev-secrets-serving-user-password",
      ].sort(),
    );
    const keys = ctx.secrets.objectStoreCredentials as pulumi.Output<{ accessKeyId: string }>;
    expect((await outputValue(keys)).accessKeyId).toHaveLength("pw-dev-secrets-object-store-access-key-id-".length + 20);
    expect(await pulumi.isSecret(keys)).toBe(true);
  });

  it("never generates what the user provides, and keeps adopted values without a RandomPassword", async () => {
    const own = { authAdminPassword: pulumi.secret("users-own-admin-password") };
    const { ctx, outputs } = programs.withGeneratedSecrets(ctxOf("mine", { secrets: own, generatedSecrets: { adopted: { databasePassword: "adopted-db-password" } } }));
    expect(await outputValue(ctx.secrets.authAdminPassword as pulumi.Output<string>)).toBe("users-own-admin-password");
    expect(await outputValue(ctx.secrets.databasePassword as pulumi.Output<string>)).toBe("adopted-db-password");
    expect(await outputValue(outputs.adoptedSecrets)).toEqual({ databasePassword: "adopted-db-password" });
    await outputValue(outputs.generatedSecrets);
    // The service users' passwords are always the stack's own: only the driver sets them in MLflow.
    expect(
      passwordsOf("mine-secrets-")
        .map((r) => r.name)
        .sort(),
    ).toEqual(["mine-secrets-object-store-access-key-id", "mine-secrets-object-store-secret-key", "mine-secrets-serving-user-password", "mine-secrets-training-user-password"]);
  });

  it("training and serving read the passwords from the tracking stack through a StackReference", async () => {
    const ctx = programs.withTrackingStackSecrets(
      ctxOf("ref", {
        config: parseStackConfig(
          { "mlops:platform": "docker", "mlops:tracking": { auth: { enabled: true }, objectStore: { kind: "s3", bucket: "mlflow-artifacts" } } },
          "Pulumi.dev.yaml",
        ),
      }),
    );
    expect(await outputValue(ctx.secrets.authAdminPassword as pulumi.Output<string>)).toBe("from-the-tracking-stack");
    const ref = registered.find((r) => r.type === "pulumi:pulumi:StackReference" && r.name === "ref-tracking-secrets");
    expect(ref?.inputs.name).toBe("ref-tracking");
    expect(await outputValue(ctx.secrets.databasePassword as pulumi.Output<string>)).toBe("db-from-tracking");
    expect(await pulumi.isSecret(ctx.secrets.authAdminPassword as pulumi.Output<string>)).toBe(true);
    expect(await outputValue(ctx.secrets.trainingUserPassword as pulumi.Output<string>)).toBe("trainer-pw");
    expect(await outputValue(ctx.secrets.servingUserPassword as pulumi.Output<string>)).toBe("server-pw");
  });

  it("logs trainers and model servers in as the least-privilege users, never as the admin", async () => {
    // Stack-owned S3 keys are not in the mocked tracking stack: an external bucket keeps this to the logins.
    const s3 = parseStackConfig(
      { "mlops:platform": "docker", "mlops:tracking": { auth: { enabled: true }, objectStore: { kind: "s3", bucket: "mlflow-artifacts" } } },
      "Pulumi.dev.yaml",
    );
    const ctx = programs.withTrackingStackSecrets(ctxOf("login", { config: s3 }));
    const login = async (role: "admin" | "training" | "serving") => {
      const c = context.trackingCredentials(ctx, role);
      return [c?.username, c && (await outputValue(pulumi.output(c.password)))];
    };
    expect(await login("training")).toEqual([mlflowServiceUsers.training, "trainer-pw"]);
    expect(await login("serving")).toEqual([mlflowServiceUsers.serving, "server-pw"]);
    expect(await login("admin")).toEqual(["admin", "from-the-tracking-stack"]);
    expect(context.trackingCredentials(ctxOf("off", { config: parseStackConfig({ "mlops:platform": "local" }, "Pulumi.local.yaml") }), "training")).toBeUndefined();
  });

  it("needs no StackReference when nothing is generated", () => {
    const local = parseStackConfig({ "mlops:platform": "local" }, "Pulumi.local.yaml");
    const ctx = ctxOf("plain", { config: local });
    expect(programs.withTrackingStackSecrets(ctx)).toBe(ctx);
    expect(registered.some((r) => r.name === "plain-tracking-secrets")).toBe(false);
  });
});

describe("driver: migration from .pipeline/secrets/<stack>.json", () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "mlops-stack-secrets-"));
  const out = (value: unknown) => ({ value, secret: true });

  it("adopts the old file's values while the stack owns none, cutting the access key id as the old driver did", () => {
    const file = path.join(dir(), "dev.json");
    fs.writeFileSync(file, JSON.stringify({ databasePassword: "old-db", objectStoreAccessKeyId: "A".repeat(32), authAdminPassword: "old-admin" }), { mode: 0o600 });
    expect(driver.planTrackingSecrets({}, file, false)).toEqual({
      adopted: { databasePassword: "old-db", objectStoreAccessKeyId: "A".repeat(20), authAdminPassword: "old-admin" },
    });
    // A stack that so far generated nothing (e.g. it had the user's own admin password) still adopts.
    expect(driver.planTrackingSecrets({ generatedSecrets: out({}) }, file, false).adopted?.authAdminPassword).toBe("old-admin");
  });

  it("ignores the file once the stack owns its passwords, keeps adopted ones, and rotates on request", () => {
    const file = path.join(dir(), "dev.json");
    fs.writeFileSync(file, JSON.stringify({ authAdminPassword: "stale" }));
    const previous = { generatedSecrets: out({ authAdminPassword: "kept" }), adoptedSecrets: out({ authAdminPassword: "kept" }) };
    expect(driver.planTrackingSecrets(previous, file, false)).toEqual({ adopted: { authAdminPassword: "kept" } });
    expect(driver.planTrackingSecrets(previous, file, true, () => new Date("2026-12-01T10:00:00Z"))).toEqual({
      adopted: { authAdminPassword: "kept" },
      rotation: "2026-12-01T10:00:00.000Z",
    });
    expect(driver.retireLegacySecrets(previous, file)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    expect(driver.retireLegacySecrets(previous, file)).toBe(false);
  });

  it("refuses an unreadable old file instead of making new passwords", () => {
    const file = path.join(dir(), "dev.json");
    fs.writeFileSync(file, "{not json");
    expect(() => driver.planTrackingSecrets({}, file, false)).toThrow(/dev\.json: expected the JSON object of generated passwords/);
    expect(driver.planTrackingSecrets({}, path.join(dir(), "missing.json"), false)).toEqual({ adopted: {} });
  });

  it("gives the driver the service users' passwords once the tracking stack holds both", () => {
    expect(driver.serviceUserPasswordsFrom({ generatedSecrets: out({ trainingUserPassword: "t", servingUserPassword: "s" }) })).toEqual({ training: "t", serving: "s" });
    expect(driver.serviceUserPasswordsFrom({ generatedSecrets: out({ authAdminPassword: "a" }) })).toBeUndefined();
  });

  it("gives the driver the generated passwords, the user's own on top", () => {
    const tracking = { generatedSecrets: out({ authAdminPassword: "gen-admin", objectStoreAccessKeyId: "id", objectStoreSecretKey: "key" }) };
    expect(driver.driverSecretsFrom(tracking, {})).toEqual({
      databasePassword: undefined,
      authAdminPassword: "gen-admin",
      objectStoreCredentials: { accessKeyId: "id", secretAccessKey: "key" },
    });
    expect(driver.driverSecretsFrom(tracking, { authAdminPassword: "mine" }).authAdminPassword).toBe("mine");
    expect(() => driver.driverSecretsFrom({ generatedSecrets: out("text") }, {})).toThrow(/not an object/);
  });
});
