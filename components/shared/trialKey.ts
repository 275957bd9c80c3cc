import { createHash } from "node:crypto";
import type { ParamValue } from "../../config";

/** JSON with object keys sorted at every depth, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, sortKeys(v)]));
}

/** First `length` hex characters of the sha256 of the value's canonical JSON. */
export function shortHash(value: unknown, length: number): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, length);
}

/**
 * Identity of one trial: a rerun finds a finished trial in MLflow by this tag value. `model` is
 * config/trainingModel.ts's modelId, hashed under its first name so the aliases keep their keys.
 */
export function trialKey(model: string, params: Readonly<Record<string, ParamValue>>): string {
  return shortHash({ modelFamily: model, params }, 16);
}
