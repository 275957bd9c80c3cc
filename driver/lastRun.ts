import * as fs from "node:fs";
import * as path from "node:path";

export interface PhaseRecord {
  readonly name: string;
  readonly seconds: number;
  /** creates + updates + deletes + replaces reported by the engine; 0 for phases that change no resources. */
  readonly resourceChanges: number;
  readonly detail?: Record<string, unknown>;
}

export interface RunRecord {
  readonly stack: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly phases: readonly PhaseRecord[];
}

/** Counts the changes in an engine summary (`{ create: 2, same: 5, ... }`). */
export function countChanges(summary: Readonly<Record<string, number>> | undefined): number {
  if (!summary) return 0;
  return ["create", "update", "delete", "replace"].reduce((sum, op) => sum + (summary[op] ?? 0), 0);
}

/** Writes the record to `file` (the stack's `runRecord` path) and returns the file. */
export function writeRunRecord(file: string, record: RunRecord): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}
