import * as fs from "node:fs";
import * as path from "node:path";
import { type EngineEvent, type InlineProgramArgs, LocalWorkspace, type LocalWorkspaceOptions, type OutputMap, type PulumiFn, type Stack } from "@pulumi/pulumi/automation";
import { countChanges } from "./lastRun";
import type { PhaseProgress } from "./progress";

export const projectName = "mlops-pipeline";

export interface PhaseStackOptions {
  readonly stackName: string;
  readonly program: PulumiFn;
  readonly workspace: LocalWorkspaceOptions;
  readonly progress: PhaseProgress;
  /** Engine output goes here in full; the console gets the compact progress lines. */
  readonly logFile: string;
}

export interface PhaseUpResult {
  readonly outputs: OutputMap;
  readonly changes: number;
  readonly summary: Readonly<Record<string, number>>;
}

async function selectStack(opts: PhaseStackOptions): Promise<Stack> {
  const args: InlineProgramArgs = { stackName: opts.stackName, projectName, program: opts.program };
  return LocalWorkspace.createOrSelectStack(args, opts.workspace);
}

function engineLog(file: string): { write: (text: string) => void; close: () => void } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, "a");
  fs.writeSync(fd, `\n=== ${new Date().toISOString()}\n`);
  return { write: (text) => fs.writeSync(fd, text), close: () => fs.closeSync(fd) };
}

/**
 * The engine's own error lines, without its whole transcript: the console gets what failed and
 * where the full log is; the log file keeps everything.
 */
export function conciseEngineError(err: unknown, stackName: string, logFile: string): Error {
  const text = err instanceof Error ? err.message : String(err);
  const errors = [...new Set(text.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("error:") && l !== "error: update failed"))];
  if (errors.length === 0) return err instanceof Error ? err : new Error(text);
  return new Error(`stack ${stackName} failed:\n  ${errors.join("\n  ")}\n  (full engine log: ${logFile})`);
}

/** `pulumi up` of one phase stack with progress lines and the full engine log in a file. */
export async function upPhase(opts: PhaseStackOptions): Promise<PhaseUpResult> {
  const stack = await selectStack(opts);
  const log = engineLog(opts.logFile);
  try {
    const result = await stack.up({ onOutput: log.write, onEvent: opts.progress.onEvent, color: "never" }).catch((err: unknown) => {
      throw conciseEngineError(err, opts.stackName, opts.logFile);
    });
    const summary = (result.summary.resourceChanges ?? {}) as Record<string, number>;
    return { outputs: result.outputs, changes: countChanges(summary), summary };
  } finally {
    log.close();
  }
}

/** `pulumi preview --diff` of one phase stack: the diff text, the change summary; engine events go to `onEvent`. */
export async function previewPhase(opts: PhaseStackOptions, onEvent: (event: EngineEvent) => void): Promise<{ diff: string; summary: Readonly<Record<string, number>> }> {
  const stack = await selectStack(opts);
  const log = engineLog(opts.logFile);
  try {
    const result = await stack.preview({ diff: true, onOutput: log.write, onEvent, color: "never" }).catch((err: unknown) => {
      throw conciseEngineError(err, opts.stackName, opts.logFile);
    });
    return { diff: result.stdout, summary: (result.changeSummary ?? {}) as Record<string, number> };
  } finally {
    log.close();
  }
}

export async function destroyPhase(opts: PhaseStackOptions): Promise<number> {
  const stack = await selectStack(opts);
  const log = engineLog(opts.logFile);
  try {
    const result = await stack.destroy({ onOutput: log.write, onEvent: opts.progress.onEvent, color: "never" }).catch((err: unknown) => {
      throw conciseEngineError(err, opts.stackName, opts.logFile);
    });
    return countChanges((result.summary.resourceChanges ?? {}) as Record<string, number>);
  } finally {
    log.close();
  }
}

/**
 * When the stack's most recent failed `up` started, or undefined when none failed. It changes only
 * when another update fails, so a run after a failure sees a new value and every later run the same.
 * (Its start time, not its version: the file backend records every version as 0.)
 */
export async function lastFailedUpdate(opts: PhaseStackOptions): Promise<string | undefined> {
  const history = await (await selectStack(opts)).history();
  const failed = history.find((u) => u.kind === "update" && u.result === "failed");
  return failed === undefined ? undefined : new Date(failed.startTime).toISOString();
}

/** Outputs of a phase that already ran (for running a later phase on its own). */
export async function phaseOutputs(opts: PhaseStackOptions): Promise<OutputMap> {
  return (await selectStack(opts)).outputs();
}

/** The value of a stack output, or a clear error naming the phase to run first. */
export function requireOutput<T>(outputs: OutputMap, key: string, phase: string): T {
  const value = outputs[key]?.value as T | undefined;
  if (value === undefined || value === null) throw new Error(`phase ${phase} has not run yet (no output '${key}'): run it first, e.g. \`npm run pipeline -- --phase ${phase}\``);
  return value;
}
