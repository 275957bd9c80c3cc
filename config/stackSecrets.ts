import { isRecord } from "./schemaWalk";

/** A secret the user may give the stack, and where each entry point looks for it. */
export interface StackSecret {
  /** The `mlops:` config key `pulumi up` on index.ts reads (`pulumi config set --secret mlops:<key>`), unless renamed. */
  readonly key: string;
  /** The environment variable `npm run pipeline` (driver/secrets.ts) reads instead: the driver never stores it. */
  readonly env: string;
  /** The field under `mlops:tracking` that lets a user keep this secret under another key. */
  readonly renamedBy?: { readonly section: "database" | "objectStore"; readonly field: string };
}

/**
 * The stack's own secrets, one row each: the single source of their names, their renames and their
 * sources. Validation (config/load.ts: which keys must be secrets), `pulumi up` (index.ts), the driver
 * (driver/secrets.ts) and the configuration reference all read this table. Passwords the stack
 * generates for what it runs itself are not here: components/shared/generatedSecrets.ts.
 */
export const stackSecrets = [
  { key: "databasePassword", env: "MLOPS_DATABASE_PASSWORD", renamedBy: { section: "database", field: "passwordSecret" } },
  { key: "databaseAdminPassword", env: "MLOPS_DATABASE_ADMIN_PASSWORD" },
  { key: "s3AccessKeyId", env: "MLOPS_S3_ACCESS_KEY_ID", renamedBy: { section: "objectStore", field: "accessKeySecret" } },
  { key: "s3SecretAccessKey", env: "MLOPS_S3_SECRET_ACCESS_KEY", renamedBy: { section: "objectStore", field: "secretKeySecret" } },
  { key: "authAdminPassword", env: "MLOPS_AUTH_ADMIN_PASSWORD" },
  { key: "servingApiKey", env: "MLOPS_SERVING_API_KEY" },
] as const satisfies readonly StackSecret[];

export type SecretKey = (typeof stackSecrets)[number]["key"];

/** Keys that hold secrets by default: declared so validation accepts them, never read as plain values. */
export const secretKeys: readonly SecretKey[] = stackSecrets.map((s) => s.key);

const rowOf = (key: SecretKey): StackSecret => stackSecrets.find((s) => s.key === key) as StackSecret;

/** The environment variable the driver reads `key` from. */
export const secretEnvName = (key: SecretKey): string => rowOf(key).env;

/**
 * The `mlops:` key that holds `key` in this stack: the name a user gave it under `mlops:tracking`
 * (raw values as written or the parsed config: the field sits at the same path), else its own.
 */
export function secretConfigKey(tracking: unknown, key: SecretKey): string {
  const rename = rowOf(key).renamedBy;
  if (!rename || !isRecord(tracking)) return key;
  const section = tracking[rename.section];
  const name = isRecord(section) ? section[rename.field] : undefined;
  return typeof name === "string" && name.length > 0 ? name : key;
}

/** Every `mlops:` key that may hold a secret in this stack: each row's key and the name it was renamed to. */
export function stackSecretNames(tracking: unknown): ReadonlySet<string> {
  return new Set<string>(stackSecrets.flatMap((s) => [s.key, secretConfigKey(tracking, s.key)]));
}
