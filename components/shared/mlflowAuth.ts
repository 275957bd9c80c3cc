import { createHash } from "node:crypto";

/**
 * MLflow basic auth, the same on every platform: the `basic_auth.ini` MLflow reads, the key its CSRF
 * tokens are signed with, and where it keeps its users when that is a SQLite file.
 */

/**
 * The check MLflow runs on every request: MLflow's own basic-auth check behind a short cache of accepted
 * logins (images/mlflow/mlops_mlflow_auth.py), so a request costs an HMAC instead of a scrypt hash.
 */
export const cachedAuthFunction = "mlops_mlflow_auth:authenticate_request_basic_auth_cached";
/** Where that module lives in this repository; the mlflow image has it on its PYTHONPATH. */
export const authModuleDir = "images/mlflow";

/**
 * The least-privilege MLflow users the driver keeps (driver/mlflowUsers.ts): trainers log in as `training`
 * (may write runs in the study's experiment), model servers as `serving` (may read the registered model).
 */
export const mlflowServiceUsers = { training: "mlops-training", serving: "mlops-serving" } as const;
export type MlflowServiceRole = keyof typeof mlflowServiceUsers;

/** MLflow refuses to start its basic-auth app with a shorter admin password. */
export const minAdminPasswordLength = 13;

/** configparser treats '%' as interpolation, so a literal one is doubled; a line break would end the value. */
export function iniValue(value: string): string {
  return value.replace(/%/g, "%%").replace(/[\r\n]/g, "");
}

export interface AuthIniParams {
  /** Where MLflow keeps users and permissions: `sqlite:///<file>` or the tracking PostgreSQL. */
  readonly databaseUri: string;
  readonly adminUser: string;
  readonly adminPassword: string;
}

/** The `[mlflow]` section of MLflow's basic-auth config; holds the admin password, so only ever a secret or a 0600 file. */
export function renderAuthIni(p: AuthIniParams): string {
  if (p.adminPassword.length < minAdminPasswordLength) {
    throw new Error(
      `tracking.auth: the MLflow admin password (mlops:authAdminPassword) must be at least ${minAdminPasswordLength} characters long: MLflow refuses to start otherwise`,
    );
  }
  return [
    "[mlflow]",
    "default_permission = READ",
    `database_uri = ${iniValue(p.databaseUri)}`,
    `admin_username = ${iniValue(p.adminUser)}`,
    `admin_password = ${iniValue(p.adminPassword)}`,
    `authorization_function = ${cachedAuthFunction}`,
    "",
  ].join("\n");
}

/**
 * A stable CSRF signing key derived from the admin password (one-way), so it needs no random provider,
 * is shared by every worker and replica, stays the same across deployments and changes with the password.
 */
export function deriveFlaskSecretKey(adminPassword: string): string {
  return createHash("sha256").update(`mlops-pipeline/mlflow-csrf/${adminPassword}`).digest("hex");
}

/**
 * MLflow creates the admin only in a fresh users database, so a new admin password (say, after the
 * secrets file was deleted) gets a SQLite file of its own instead of one that still holds the old hash.
 */
export function authDatabaseFile(directory: string, adminPassword: string): string {
  const generation = createHash("sha256").update(`mlflow-auth-db:${adminPassword}`).digest("hex").slice(0, 12);
  return `${directory.replace(/\/+$/, "")}/basic_auth-${generation}.db`;
}

/** `sqlite:///` URI of the users database in `directory` (an absolute path, so four slashes in all). */
export function sqliteAuthDatabaseUri(directory: string, adminPassword: string): string {
  return `sqlite:///${authDatabaseFile(directory, adminPassword)}`;
}
