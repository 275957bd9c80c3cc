import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type StackConfig, servingAuthEnabled } from "../config";
import type { PhaseSecrets } from "../programs/context";
import { UserError } from "./cli";

/**
 * Secrets of the user's own that the driver hands to phase programs (always wrapped with `pulumi.secret`
 * there): passwords of external services from the environment (`MLOPS_DATABASE_PASSWORD`,
 * `MLOPS_S3_ACCESS_KEY_ID`, `MLOPS_S3_SECRET_ACCESS_KEY`, `MLOPS_DATABASE_ADMIN_PASSWORD` when
 * `tracking.database.manage` is true) and, optionally, `MLOPS_AUTH_ADMIN_PASSWORD` and `MLOPS_SERVING_API_KEY`.
 * Passwords for what the stack runs itself are `random.RandomPassword`s of the tracking phase
 * (programs/secrets.ts), kept in the encrypted state. Never printed.
 */
export interface DriverSecrets {
  databasePassword?: string;
  objectStoreCredentials?: { accessKeyId: string; secretAccessKey: string };
  authAdminPassword?: string;
  databaseAdminPassword?: string;
  /** The inference API key when `serving.auth` is on (else the deploy phase generates one). */
  servingApiKey?: string;
  /** The MLflow users of trainers and model servers: always generated, except by render mode (throwaway values). */
  trainingUserPassword?: string;
  servingUserPassword?: string;
  /** kubernetes: the HMAC key of pod-template Secret digests; generated, except by render mode. */
  secretDigestKey?: string;
}

/** Where older versions kept generated passwords; read once to adopt them (driver/stackSecrets.ts), then removed. */
export function secretsFile(stateDir: string, stack: string): string {
  return path.join(stateDir, "secrets", `${stack}.json`);
}

function requireEnv(env: NodeJS.ProcessEnv, name: string, why: string): string {
  const value = env[name];
  // A missing password is the user's to fix: one line, no stack-trace hint.
  if (!value) throw new UserError(`${why}: set ${name} in the environment (it is never stored in plain text)`);
  return value;
}

/** Passwords of external services, which only the user knows: from the environment. */
export function externalSecretsFromEnv(config: StackConfig, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const out: DriverSecrets = {};
  const { database, objectStore } = config.tracking;
  if (database.kind === "external" && database.manage) {
    out.databaseAdminPassword = requireEnv(
      env,
      "MLOPS_DATABASE_ADMIN_PASSWORD",
      `tracking.database.manage is true: the stack creates MLflow's role and database as ${database.adminUser} (mlops:databaseAdminPassword) on ${database.host}`,
    );
    // The role is the stack's own: the user's password if given, else a RandomPassword (programs/secrets.ts).
    if (env.MLOPS_DATABASE_PASSWORD) out.databasePassword = env.MLOPS_DATABASE_PASSWORD;
  } else if (database.kind === "external") {
    out.databasePassword = requireEnv(env, "MLOPS_DATABASE_PASSWORD", `tracking.database is external (${database.host})`);
  }
  if (objectStore.kind === "s3" && env.MLOPS_S3_ACCESS_KEY_ID) {
    out.objectStoreCredentials = { accessKeyId: env.MLOPS_S3_ACCESS_KEY_ID, secretAccessKey: requireEnv(env, "MLOPS_S3_SECRET_ACCESS_KEY", "MLOPS_S3_ACCESS_KEY_ID is set") };
  }
  return out;
}

export function resolveSecrets(config: StackConfig, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const admin = config.tracking.auth.enabled && env.MLOPS_AUTH_ADMIN_PASSWORD ? { authAdminPassword: env.MLOPS_AUTH_ADMIN_PASSWORD } : {};
  const apiKey = servingAuthEnabled(config) && env.MLOPS_SERVING_API_KEY ? { servingApiKey: env.MLOPS_SERVING_API_KEY } : {};
  return { ...admin, ...apiKey, ...externalSecretsFromEnv(config, env) };
}

/** Plain secrets as Pulumi secrets; call it inside each program run: Outputs belong to the Pulumi runtime of that run. */
export function secretOutputs(plain: DriverSecrets): () => PhaseSecrets {
  const secret = <T>(value: T | undefined) => (value === undefined ? undefined : pulumi.secret(value));
  return () => ({
    databasePassword: secret(plain.databasePassword),
    objectStoreCredentials: secret(plain.objectStoreCredentials),
    authAdminPassword: secret(plain.authAdminPassword),
    databaseAdminPassword: secret(plain.databaseAdminPassword),
    servingApiKey: secret(plain.servingApiKey),
    trainingUserPassword: secret(plain.trainingUserPassword),
    servingUserPassword: secret(plain.servingUserPassword),
    secretDigestKey: secret(plain.secretDigestKey),
  });
}
