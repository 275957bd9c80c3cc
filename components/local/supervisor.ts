/**
 * Process supervision for the local platform, in plain Node: the dynamic providers in this folder
 * call these functions from the provider process Pulumi starts, and tests call them directly.
 *
 * Each function `require`s the Node built-ins it needs inside its body, because Pulumi serializes
 * dynamic providers by value and these functions travel with them.
 */
import { httpFetch } from "../shared/httpFetch";

/** A file written before a process starts (config files, secrets); secrets get mode 0600. */
export interface FileSpec {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

export interface ProcessSpec {
  /** argv: the executable then its arguments. */
  readonly command: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** stdout and stderr are appended here; never to the Pulumi engine's pipes. */
  readonly logFile: string;
  readonly files?: readonly FileSpec[];
  /** Folders the process expects to exist (database and artifact folders), created first. */
  readonly directories?: readonly string[];
}

/** Creates the process's folders and writes its files. */
export function prepareFilesystem(spec: Pick<ProcessSpec, "files" | "directories">): void {
  const fs = require("node:fs") as typeof import("node:fs");
  for (const dir of spec.directories ?? []) fs.mkdirSync(dir, { recursive: true });
  writeFiles(spec.files);
}

export function writeFiles(files: readonly FileSpec[] | undefined): void {
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  for (const file of files ?? []) {
    fs.mkdirSync(path.dirname(file.path), { recursive: true });
    const mode = file.mode ?? 0o644;
    // Write to a fresh temp file created with the final mode, so a secret is never world-readable.
    const tmp = `${file.path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, file.content, { mode });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file.path);
  }
}

function openLog(logFile: string): number {
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  return fs.openSync(logFile, "a", 0o640);
}

function childEnv(spec: ProcessSpec): NodeJS.ProcessEnv {
  // Start from a minimal environment: the engine's variables (PULUMI_*, passphrases) must not leak into workloads.
  const keep = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];
  const base: NodeJS.ProcessEnv = {};
  for (const key of keep) if (process.env[key] !== undefined) base[key] = process.env[key];
  return { ...base, ...spec.env };
}

/** Starts a long-running process in its own session (it outlives `pulumi up`) and returns its pid. */
export function startDetached(spec: ProcessSpec, pidFile: string): number {
  const cp = require("node:child_process") as typeof import("node:child_process");
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  prepareFilesystem(spec);
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  const log = openLog(spec.logFile);
  fs.writeSync(log, `\n=== ${new Date().toISOString()} start: ${spec.command.join(" ")}\n`);
  const [exe, ...args] = spec.command;
  if (exe === undefined) throw new Error("empty command");
  const child = cp.spawn(exe, args, { cwd: spec.cwd, env: childEnv(spec), detached: true, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${exe}: see ${spec.logFile}`);
  child.unref();
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  return child.pid;
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie or a recycled pid is not our process: check it still leads the session we started.
  try {
    const fs = require("node:fs") as typeof import("node:fs");
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] !== "Z" && fields[3] === String(pid);
  } catch {
    return true;
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** True while any process of the group led by `pid` is still running (zombies do not count). */
export function groupAlive(pid: number): boolean {
  const fs = require("node:fs") as typeof import("node:fs");
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[2] === String(pid) && fields[0] !== "Z") return true;
    } catch {
      /* exited while we looked */
    }
  }
  return false;
}

/** Stops the whole process group: SIGTERM, then SIGKILL after `graceMs`. Leaves no orphans. */
export async function stopProcessGroup(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (!pid || pid <= 0) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!groupAlive(pid) && !isAlive(pid)) return;
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pid) && !isAlive(pid)) return;
    await sleep(200);
  }
  signal("SIGKILL");
  const killDeadline = Date.now() + 10_000;
  while ((groupAlive(pid) || isAlive(pid)) && Date.now() < killDeadline) await sleep(100);
}

export function tailOf(file: string, lines = 20): string {
  const fs = require("node:fs") as typeof import("node:fs");
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Polls `url` until it answers 2xx, the process dies, or the timeout passes. */
export async function waitForHttp(url: string, pid: number, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new Error(`process ${pid} exited before ${url} answered; last log lines of ${logFile}:\n${tailOf(logFile)}`);
    try {
      const res = await httpFetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(300);
  }
  throw new Error(`${url} did not become healthy within ${Math.round(timeoutMs / 1000)} s (${last}); see ${logFile}`);
}

export interface RunResult {
  /** The exit code; 128 + the signal's number when a signal ended it, as a shell reports it. */
  readonly exitCode: number;
  /** The signal that ended it (SIGKILL from the OOM killer or an operator), if any. */
  readonly signal?: string;
  /** True when it ran past its time limit and was stopped. */
  readonly timedOut?: boolean;
  readonly seconds: number;
}

/** "exited with code 3", "was killed by SIGKILL", "ran past its 60 s limit": the end of a run in words. */
export function describeEnd(result: RunResult, timeoutSeconds: number): string {
  if (result.timedOut) return `ran past its ${timeoutSeconds} s limit and was stopped`;
  return result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
}

/** Runs a process to completion (its own process group, killed if we are), output appended to its log. */
export async function runToCompletion(spec: ProcessSpec, timeoutMs: number): Promise<RunResult> {
  const cp = require("node:child_process") as typeof import("node:child_process");
  const fs = require("node:fs") as typeof import("node:fs");
  const os = require("node:os") as typeof import("node:os");
  prepareFilesystem(spec);
  const log = openLog(spec.logFile);
  fs.writeSync(log, `\n=== ${new Date().toISOString()} run: ${spec.command.join(" ")}\n`);
  const [exe, ...args] = spec.command;
  if (exe === undefined) throw new Error("empty command");
  const started = Date.now();
  const child = cp.spawn(exe, args, { cwd: spec.cwd, env: childEnv(spec), detached: true, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) void stopProcessGroup(child.pid, 5000);
  }, timeoutMs);
  const ended = await new Promise<{ exitCode: number; signal?: string }>((resolve) => {
    child.on("error", () => resolve({ exitCode: 127 }));
    child.on("exit", (code, sig) => resolve(sig ? { exitCode: 128 + (os.constants.signals[sig] ?? 0), signal: sig } : { exitCode: code ?? 1 }));
  });
  clearTimeout(timer);
  return { ...ended, ...(timedOut ? { timedOut } : {}), seconds: (Date.now() - started) / 1000 };
}
