import * as fs from "node:fs";
import type { OutputMap } from "@pulumi/pulumi/automation";
import { type GeneratedSecretName, type GeneratedSecretValues, generatedSecretNames } from "../components/shared/generatedSecrets";
import { adoptedSecretsOutput, type GeneratedSecretsPlan, generatedSecretsOutput } from "../programs/secrets";
import type { DriverSecrets } from "./secrets";

/**
 * The driver's side of generated passwords: what the tracking phase adopts or rotates, the migration
 * from the old `.pipeline/secrets/<stack>.json`, and the plain values the driver itself needs (select
 * authenticates to MLflow). The passwords live in the tracking stack's encrypted state.
 */

function valuesOf(output: OutputMap[string] | undefined, what: string): GeneratedSecretValues {
  const value: unknown = output?.value ?? {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`the tracking stack's output ${what} is not an object: was the state edited by hand?`);
  const out: GeneratedSecretValues = {};
  for (const name of generatedSecretNames) {
    const v = (value as Record<string, unknown>)[name];
    if (typeof v === "string" && v.length > 0) out[name] = v;
  }
  return out;
}

/**
 * The values an older version of the driver generated into `file` (mode 0600). A file that exists but
 * cannot be read is an error, never a reason to make new passwords: the services still use the old ones.
 */
export function readLegacySecrets(file: string): GeneratedSecretValues {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`${file}: cannot read the stack's old generated passwords (${(err as Error).message}); fix its permissions or move it away if the stack is new`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file}: expected the JSON object of generated passwords an older driver wrote; it is not JSON (move it away if the stack is new)`);
  }
  const values = valuesOf({ value: parsed, secret: true }, file);
  // The old driver used the first 20 characters of this value as the S3 access key id.
  if (values.objectStoreAccessKeyId) values.objectStoreAccessKeyId = values.objectStoreAccessKeyId.slice(0, 20);
  return values;
}

/**
 * Before the tracking phase runs. A stack that already owns passwords (a non-empty
 * `generatedSecrets` output) keeps them, adopted ones included; a stack without it adopts the old
 * file's values. `rotate` replaces every generated password.
 */
export function planTrackingSecrets(previous: OutputMap, legacyFile: string, rotate: boolean, now: () => Date = () => new Date()): GeneratedSecretsPlan {
  // Per password: what the stack adopted before stays adopted; the old file's value is adopted for any
  // password the stack does not own yet (a stack may own some, e.g. the MLflow users', and not others).
  const owned = valuesOf(previous[generatedSecretsOutput], generatedSecretsOutput);
  const adopted = valuesOf(previous[adoptedSecretsOutput], adoptedSecretsOutput);
  for (const [name, value] of Object.entries(readLegacySecrets(legacyFile)) as [GeneratedSecretName, string][]) {
    if (owned[name] === undefined) adopted[name] = value;
  }
  return { adopted, ...(rotate ? { rotation: now().toISOString() } : {}) };
}

/** After a successful tracking phase: the stack holds every password now, so the old file goes. */
export function retireLegacySecrets(outputs: OutputMap, legacyFile: string): boolean {
  if (outputs[generatedSecretsOutput] === undefined || !fs.existsSync(legacyFile)) return false;
  fs.rmSync(legacyFile);
  return true;
}

/** The generated passwords as the driver's plain secrets, the user's own on top. */
export function driverSecretsFrom(tracking: OutputMap, user: DriverSecrets): DriverSecrets {
  const g = valuesOf(tracking[generatedSecretsOutput], generatedSecretsOutput);
  const keys = g.objectStoreAccessKeyId && g.objectStoreSecretKey ? { accessKeyId: g.objectStoreAccessKeyId, secretAccessKey: g.objectStoreSecretKey } : undefined;
  return {
    databasePassword: user.databasePassword ?? g.databasePassword,
    objectStoreCredentials: user.objectStoreCredentials ?? keys,
    authAdminPassword: user.authAdminPassword ?? g.authAdminPassword,
  };
}

/** The passwords of the least-privilege MLflow users the tracking phase generated (auth on), else undefined. */
export function serviceUserPasswordsFrom(tracking: OutputMap): { training: string; serving: string } | undefined {
  const { trainingUserPassword: training, servingUserPassword: serving } = valuesOf(tracking[generatedSecretsOutput], generatedSecretsOutput);
  return training && serving ? { training, serving } : undefined;
}
