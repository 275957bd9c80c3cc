/**
 * One phase stack through the Automation API: up, preview, destroy and reading outputs. Operations that
 * change a stack create it when needed; reads only select it, so reading a phase that never ran says so
 * instead of leaving an empty stack behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  type EngineEvent,
  type InlineProgramArgs,
  LocalWorkspace,
  type LocalWorkspaceOptions,
  type OutputMap,
  type PulumiFn,
  type Stack,
  StackNotFoundError,
} from "@pulumi/pulumi/automation";
import type { Platform } from "../config";
import { countChanges } from "./lastRun";
import type { PhaseProgress } from "./progress";
import { explainStackError } from "./stackErrors";

export const projectName = "mlops-pipeline";

export interface PhaseStackOptions {
  /** The user's stack (`local`, `prod`), for messages. */
  readonly stack: string;
  readonly stackName: string;
  readonly program: PulumiFn;
  readonly workspace: LocalWorkspaceOptions;
  readonly progress: PhaseProgress;
  /** Engine output goes here in full; the console gets the compact progress lines. */
  readonly logFile: string;
  /** Refresh the stack's state from the platform before updating it (see refreshBeforeUpdate). */
  readonly refresh?: boolean;
}

export interface PhaseUpResult {
  readonly outputs: OutputMap;
  readonly changes: number;
  readonly summary: Readonly<Record<string, number>>;
}

/**
 * Whether an update first refreshes the stack's state, so drift (a container or pod removed by hand) is
 * seen and repaired. Docker and Kubernetes resources can change behind Pulumi's back; the local platform's
 * dynamic resources already check that their processes live on every update, and skipping the refresh keeps
 * local runs fast. Render mode has no platform to read from.
 */
export function refreshBeforeUpdate(platform: Platform, renderMode = false): boolean {
  return !renderMode && platform !== "local";
}

const programArgs = (opts: Pick<PhaseStackOptions, "stackName" | "program">): InlineProgramArgs => ({ stackName: opts.stackName, projectName, program: opts.program });

/** Runs `operation` on the stack, created if it does not exist yet; Automation API errors become clear messages. */
async function onStack<T>(opts: PhaseStackOptions, operation: (stack: Stack, log: (text: string) => void) => Promise<T>): Promise<T> {
  const log = engineLog(opts.logFile);
  try {
    const stack = await LocalWorkspace.createOrSelectStack(programArgs(opts), opts.workspace);
    return await operation(stack, log.write);
  } catch (err) {
    throw explainStackError(err, opts);
  } finally {
    log.close();
  }
}

function engineLog(file: string): { write: (text: string) => void; close: () => void } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, "a");
  fs.writeSync(fd, `\n=== ${new Date().toISOString()}\n`);
  return { write: (text) => fs.writeSync(fd, text), close: () => fs.closeSync(fd) };
}

/** `pulumi up` of one phase stack with progress lines and the full engine log in a file. */
export async function upPhase(opts: PhaseStackOptions): Promise<PhaseUpResult> {
  return onStack(opts, async (stack, onOutput) => {
    const result = await stack.up({ onOutput, onEvent: opts.progress.onEvent, color: "never", refresh: opts.refresh });
    const summary = (result.summary.resourceChanges ?? {}) as Record<string, number>;
    return { outputs: result.outputs, changes: countChanges(summary), summary };
  });
}

/**
 * `pulumi preview --diff` of one phase stack: the diff text, the change summary; engine events go to
 * `onEvent`. `removeAfter`: the stack was created for this preview only and is removed again, so a
 * preview of a phase that never ran leaves nothing behind.
 */
export async function previewPhase(
  opts: PhaseStackOptions,
  onEvent: (event: EngineEvent) => void,
  removeAfter = false,
): Promise<{ diff: string; summary: Readonly<Record<string, number>> }> {
  return onStack(opts, async (stack, onOutput) => {
    try {
      const result = await stack.preview({ diff: true, onOutput, onEvent, color: "never" });
      return { diff: result.stdout, summary: (result.changeSummary ?? {}) as Record<string, number> };
    } finally {
      if (removeAfter) await stack.workspace.removeStack(opts.stackName);
    }
  });
}

export async function destroyPhase(opts: PhaseStackOptions): Promise<number> {
  return onStack(opts, async (stack, onOutput) => {
    const result = await stack.destroy({ onOutput, onEvent: opts.progress.onEvent, color: "never" });
    return countChanges((result.summary.resourceChanges ?? {}) as Record<string, number>);
  });
}

type ReadOptions = Pick<PhaseStackOptions, "stack" | "stackName" | "workspace">;

async function selectedOutputs(opts: ReadOptions): Promise<OutputMap> {
  const stack = await LocalWorkspace.selectStack(programArgs({ stackName: opts.stackName, program: async () => ({}) }), opts.workspace);
  return stack.outputs();
}

/**
 * When the stack's most recent failed `up` started, or undefined when none failed (or there is no stack).
 * It changes only when another update fails, so a run after a failure sees a new value and every later
 * run the same. (Its start time, not its version: the file backend records every version as 0.)
 */
export async function lastFailedUpdate(opts: ReadOptions): Promise<string | undefined> {
  const stack = await LocalWorkspace.selectStack(programArgs({ stackName: opts.stackName, program: async () => ({}) }), opts.workspace).catch((err: unknown) => {
    if (err instanceof StackNotFoundError) return undefined;
    throw explainStackError(err, opts);
  });
  const failed = (await stack?.history())?.find((u) => u.kind === "update" && u.result === "failed");
  return failed === undefined ? undefined : new Date(failed.startTime).toISOString();
}

/** Outputs of a phase that already ran; a missing stack is a clear error naming the phase to run first. */
export async function phaseOutputs(opts: ReadOptions): Promise<OutputMap> {
  return selectedOutputs(opts).catch((err: unknown) => {
    throw explainStackError(err, opts);
  });
}

/** Outputs of a phase stack, or undefined when the stack does not exist (yet). */
export async function storedOutputs(opts: ReadOptions): Promise<OutputMap | undefined> {
  return selectedOutputs(opts).catch((err: unknown) => {
    if (err instanceof StackNotFoundError) return undefined;
    throw explainStackError(err, opts);
  });
}
