import { isRecord } from "./schemaWalk";
import { stackSecretNames } from "./stackSecrets";

/** A Pulumi-encrypted stack value as it stands in the file: `{ secure: <ciphertext> }`. */
export function isSecureValue(value: unknown): boolean {
  return isRecord(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

/**
 * Names (without the `mlops:` prefix) that may hold secrets in this stack: the fixed `secretKeys`
 * plus any a user renamed through `passwordSecret`, `accessKeySecret` or `secretKeySecret`
 * (config/stackSecrets.ts). Read from the raw values, before parsing, so a renamed secret is never
 * mistaken for an unknown key.
 */
export function secretNames(raw: Readonly<Record<string, unknown>>): ReadonlySet<string> {
  return stackSecretNames(raw.tracking);
}

export const plainSecretMessage = (key: string) => `expected a secret: set it with \`pulumi config set --secret ${key}\``;
export const unexpectedSecretMessage = (names: ReadonlySet<string>) => `expected a plain value: only ${[...names].join(", ")} hold secrets`;
