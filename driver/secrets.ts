import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { PhaseSecrets } from "../programs/context";

/**
 * Secrets the driver hands to phase programs (always wrapped with `pulumi.secret` there).
 * Passwords for things the stack itself runs are generated once and kept in
 * `.pipeline/secrets/<stack>.json` (mode 0600); passwords of external services come from the
 * environment (`MLOPS_DATABASE_PASSWORD`, `MLOPS_S3_ACCESS_KEY_ID`, `MLOPS_S3_SECRET_ACCESS_KEY`,
 * optionally `MLOPS_AUTH_ADMIN_PASSWORD`). Never printed.
 */
export interface DriverSecrets {
  databasePassword?: string;
  objectStoreCredentials?: { accessKeyId: string; secretAccessKey: string };
  authAdminPassword?: string;
}

type Generated = Partial<Record<"databasePassword" | "objectStoreAccessKeyId" | "objectStoreSecretKey" | "authAdminPassword", string>>;

const randomSecret = (bytes = 24) => crypto.randomBytes(bytes).toString("base64url");

export function secretsFile(stateDir: string, stack: string): string {
  return path.join(stateDir, "secrets", `${stack}.json`);
}

function loadGenerated(file: string): Generated {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Generated;
  } catch {
    return {};
  }
}

function saveGenerated(file: string, values: Generated): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.dirname(file), 0o700);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(values), { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

function requireEnv(env: NodeJS.ProcessEnv, name: string, why: string): string {
  const value = env[name];
  if (!value) throw new Error(`${why}: set ${name} in the environment (it is never stored in plain text)`);
  return value;
}

/** Passwords for what the stack itself runs (in-stack database and object store, MLflow admin): generated once, kept 0600. */
export function generatedSecrets(config: StackConfig, stack: string, stateDir: string, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const file = secretsFile(stateDir, stack);
  const generated = loadGenerated(file);
  const before = JSON.stringify(generated);
  const ensure = (key: keyof Generated) => {
    generated[key] ??= randomSecret();
    return generated[key] as string;
  };
  const out: DriverSecrets = {};
  const { database, objectStore, auth } = config.tracking;
  if (database.kind === "inStack") out.databasePassword = ensure("databasePassword");
  if (objectStore.kind === "inStack") out.objectStoreCredentials = { accessKeyId: ensure("objectStoreAccessKeyId").slice(0, 20), secretAccessKey: ensure("objectStoreSecretKey") };
  if (auth.enabled) out.authAdminPassword = env.MLOPS_AUTH_ADMIN_PASSWORD || ensure("authAdminPassword");
  if (JSON.stringify(generated) !== before) saveGenerated(file, generated);
  return out;
}

/** Passwords of external services, which only the user knows: from the environment. */
export function externalSecretsFromEnv(config: StackConfig, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const out: DriverSecrets = {};
  const { database, objectStore } = config.tracking;
  if (database.kind === "external") out.databasePassword = requireEnv(env, "MLOPS_DATABASE_PASSWORD", `tracking.database is external (${database.host})`);
  if (objectStore.kind === "s3" && env.MLOPS_S3_ACCESS_KEY_ID) {
    out.objectStoreCredentials = { accessKeyId: env.MLOPS_S3_ACCESS_KEY_ID, secretAccessKey: requireEnv(env, "MLOPS_S3_SECRET_ACCESS_KEY", "MLOPS_S3_ACCESS_KEY_ID is set") };
  }
  return out;
}

export function resolveSecrets(config: StackConfig, stack: string, stateDir: string, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  return { ...generatedSecrets(config, stack, stateDir, env), ...externalSecretsFromEnv(config, env) };
}

/** Plain secrets as Pulumi secrets; call it inside each program run: Outputs belong to the Pulumi runtime of that run. */
export function secretOutputs(plain: DriverSecrets): () => PhaseSecrets {
  return () => ({
    databasePassword: plain.databasePassword === undefined ? undefined : pulumi.secret(plain.databasePassword),
    objectStoreCredentials: plain.objectStoreCredentials === undefined ? undefined : pulumi.secret(plain.objectStoreCredentials),
    authAdminPassword: plain.authAdminPassword === undefined ? undefined : pulumi.secret(plain.authAdminPassword),
  });
}
