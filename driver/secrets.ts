import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type SecretKey, type StackConfig, secretConfigKey, secretEnvName, servingAuthEnabled } from "../config";
import type { PhaseSecrets, SecretShapes } from "../programs/context";
import { UserError } from "./cli";

/**
 * Secrets of the user's own that the driver hands to phase programs (always wrapped with `pulumi.secret`
 * there): passwords of external services from the environment (the variables of config/stackSecrets.ts:
 * the database's when external, its admin's when `tracking.database.manage` is true, the S3 key pair)
 * and, optionally, the MLflow admin password and the inference API key. Passwords for what the stack runs
 * itself are `random.RandomPassword`s of the tracking phase (programs/secrets.ts), kept in the encrypted
 * state. Never printed.
 */
export type DriverSecrets = { -readonly [K in keyof SecretShapes]?: SecretShapes[K] };

/** Where older versions kept generated passwords; read once to adopt them (driver/stackSecrets.ts), then removed. */
export function secretsFile(stateDir: string, stack: string): string {
  return path.join(stateDir, "secrets", `${stack}.json`);
}

/** The value of the secret's environment variable (config/stackSecrets.ts), if set and not empty. */
const fromEnv = (env: NodeJS.ProcessEnv, key: SecretKey): string | undefined => env[secretEnvName(key)] || undefined;

/** The secret's environment variable, or a UserError naming it and the key `pulumi up` would read instead (renamed or not). */
function requireEnv(env: NodeJS.ProcessEnv, config: StackConfig, key: SecretKey, why: string): string {
  const value = fromEnv(env, key);
  // A missing password is the user's to fix: one line, no stack-trace hint.
  if (!value) {
    const configKey = secretConfigKey(config.tracking, key);
    throw new UserError(`${why}: set ${secretEnvName(key)} in the environment (it is never stored in plain text; mlops:${configKey} is read by \`pulumi up\` only)`);
  }
  return value;
}

/** Passwords of external services, which only the user knows: from the environment. */
export function externalSecretsFromEnv(config: StackConfig, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const out: DriverSecrets = {};
  const { database, objectStore } = config.tracking;
  if (database.kind === "external" && database.manage) {
    out.databaseAdminPassword = requireEnv(
      env,
      config,
      "databaseAdminPassword",
      `tracking.database.manage is true: the stack creates MLflow's role and database as ${database.adminUser} (mlops:databaseAdminPassword) on ${database.host}`,
    );
    // The role is the stack's own: the user's password if given, else a RandomPassword (programs/secrets.ts).
    const password = fromEnv(env, "databasePassword");
    if (password) out.databasePassword = password;
  } else if (database.kind === "external") {
    out.databasePassword = requireEnv(env, config, "databasePassword", `tracking.database is external (${database.host})`);
  }
  const accessKeyId = fromEnv(env, "s3AccessKeyId");
  if (objectStore.kind === "s3" && accessKeyId) {
    out.objectStoreCredentials = { accessKeyId, secretAccessKey: requireEnv(env, config, "s3SecretAccessKey", `${secretEnvName("s3AccessKeyId")} is set`) };
  }
  return out;
}

export function resolveSecrets(config: StackConfig, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const adminPassword = fromEnv(env, "authAdminPassword");
  const apiKey = fromEnv(env, "servingApiKey");
  return {
    ...(config.tracking.auth.enabled && adminPassword ? { authAdminPassword: adminPassword } : {}),
    ...(servingAuthEnabled(config) && apiKey ? { servingApiKey: apiKey } : {}),
    ...externalSecretsFromEnv(config, env),
  };
}

/** Plain secrets as Pulumi secrets; call it inside each program run: Outputs belong to the Pulumi runtime of that run. */
export function secretOutputs(plain: DriverSecrets): () => PhaseSecrets {
  return () => Object.fromEntries(Object.entries(plain).flatMap(([name, value]) => (value === undefined ? [] : [[name, pulumi.secret(value)]]))) as PhaseSecrets;
}
