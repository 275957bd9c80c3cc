import { spawn } from "node:child_process";

/**
 * Child processes for tests that drive the real pipeline: every command is timed and the tail of
 * its output printed, so a slow or failing step shows where the minutes went.
 */

export interface CommandResult {
  readonly status: number;
  readonly output: string;
  readonly seconds: number;
}

export interface CommandOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Killed (its whole process group) after this long; the result then has status -1. */
  readonly timeoutMs: number;
  /** How many last lines of output to print when it ends. */
  readonly tailLines?: number;
}

export interface RunningCommand {
  readonly pid: number;
  readonly done: Promise<CommandResult>;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
}

/** Starts `file args` in its own process group; asynchronous, so a test can act while it runs. */
export function startCommand(label: string, file: string, args: readonly string[], options: CommandOptions): RunningCommand {
  const started = Date.now();
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  }, options.timeoutMs);
  const done = new Promise<CommandResult>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const status = timedOut ? -1 : (code ?? -1);
      const note = timedOut ? `, KILLED after the ${options.timeoutMs / 1000} s limit` : "";
      const tail = output
        .trimEnd()
        .split("\n")
        .slice(-(options.tailLines ?? 40))
        .join("\n");
      console.log(`--- ${label} (exit ${status}, ${seconds.toFixed(1)} s${note}) ---\n${tail}`);
      resolve({ status, output, seconds });
    });
  });
  return { pid: child.pid ?? -1, done, output: () => output };
}

export async function runCommand(label: string, file: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  return startCommand(label, file, args, options).done;
}

/** Runs a test step and prints how long it took. */
export async function timedStep<T>(label: string, step: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  console.log(`[step] ${label} ...`);
  try {
    return await step();
  } finally {
    console.log(`[step] ${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value other than undefined; a probe that throws (a server that
 * is restarting) counts as "not yet". Fails after `timeoutMs` naming what it waited for.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err);
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
}
