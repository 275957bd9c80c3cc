import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { databaseSchema, objectStoreSchema, parseStackConfig, secretConfigKey, secretKeys, stackSecrets } from "../../config";
import { stackConfigRows } from "../../config/reference";
import { resolveSecrets, secretOutputs } from "../../driver/secrets";
import { installPulumiMocks, outputValue } from "./support/pulumiMocks";

/**
 * config/stackSecrets.ts is the one table of the stack's secrets: the schema's rename defaults, the
 * reference, `pulumi up` (test/unit/indexProgram.test.ts) and the driver's environment all follow it.
 */

const root = path.resolve(__dirname, "../..");
const secure = { secure: "v1:ciphertext" };
const renamedDatabase = { kind: "external", host: "db.example", passwordSecret: "pgPassword" };

beforeAll(async () => {
  await installPulumiMocks();
});

describe("the stack's secrets: one table", () => {
  it("each rename field defaults to its row's own key", () => {
    const defaults: Record<string, unknown> = {
      ...databaseSchema.parse({ kind: "external", host: "h" }),
      ...objectStoreSchema.parse({ kind: "s3", bucket: "models" }),
    };
    for (const row of stackSecrets) if ("renamedBy" in row) expect(defaults[row.renamedBy.field], row.key).toBe(row.key);
  });

  it("the reference lists every secret key, and no file outside the table spells the driver's variables", () => {
    const referenced = stackConfigRows()
      .filter((r) => r.form === "secret")
      .map((r) => r.key);
    expect(referenced).toEqual(secretKeys.map((k) => `mlops:${k}`));
    const code = ["index.ts", "driver/secrets.ts", "driver/renderMode.ts", "programs/context.ts", "config/stackConfig.ts"];
    for (const file of code) {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      for (const row of stackSecrets) expect(text.includes(`"${row.env}"`) || text.includes(`.${row.env}`), `${file} spells ${row.env}`).toBe(false);
    }
  });

  it("resolves renamed keys from raw values and from the parsed config alike", () => {
    expect(secretConfigKey({ database: renamedDatabase }, "databasePassword")).toBe("pgPassword");
    const parsed = parseStackConfig({ "mlops:platform": "local", "mlops:tracking": { database: renamedDatabase }, "mlops:pgPassword": secure }, "Pulumi.dev.yaml");
    expect(secretConfigKey(parsed.tracking, "databasePassword")).toBe("pgPassword");
    expect(secretConfigKey(parsed.tracking, "s3AccessKeyId")).toBe("s3AccessKeyId");
    expect(secretConfigKey(undefined, "servingApiKey")).toBe("servingApiKey");
  });
});

describe("driver: secret resolution with a renamed passwordSecret", () => {
  const config = parseStackConfig({ "mlops:platform": "local", "mlops:tracking": { database: renamedDatabase }, "mlops:pgPassword": secure }, "Pulumi.dev.yaml");

  it("takes the password from the table's variable and hands it to programs as a secret", async () => {
    const plain = resolveSecrets(config, { MLOPS_DATABASE_PASSWORD: "renamed-db-password" });
    expect(plain).toEqual({ databasePassword: "renamed-db-password" });
    const { databasePassword, ...others } = secretOutputs(plain)();
    expect(others).toEqual({});
    if (!databasePassword) throw new Error("secretOutputs dropped databasePassword");
    expect(await pulumi.isSecret(databasePassword)).toBe(true);
    expect(await outputValue(databasePassword)).toBe("renamed-db-password");
  });

  it("without it, names the variable and the renamed key `pulumi up` reads, never databasePassword", () => {
    expect(() => resolveSecrets(config, {})).toThrow(
      "set MLOPS_DATABASE_PASSWORD in the environment (it is never stored in plain text; mlops:pgPassword is read by `pulumi up` only)",
    );
  });

  it("reads every row's variable when the config needs it", () => {
    const all = parseStackConfig(
      {
        "mlops:platform": "docker",
        "mlops:tracking": { database: { kind: "external", host: "db", manage: true }, objectStore: { kind: "s3", bucket: "models" }, auth: { enabled: true } },
      },
      "Pulumi.dev.yaml",
    );
    const env = Object.fromEntries(stackSecrets.map((row) => [row.env, `value-of-${row.key}`]));
    expect(resolveSecrets(all, env)).toEqual({
      databasePassword: "value-of-databasePassword",
      databaseAdminPassword: "value-of-databaseAdminPassword",
      objectStoreCredentials: { accessKeyId: "value-of-s3AccessKeyId", secretAccessKey: "value-of-s3SecretAccessKey" },
      authAdminPassword: "value-of-authAdminPassword",
      servingApiKey: "value-of-servingApiKey",
    });
  });
});
