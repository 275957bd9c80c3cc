/**
 * A `kubectl port-forward` as a child process: started, waited for (bounded) until MLflow answers its
 * health URL through it, and stopped afterwards, also when the work fails. The driver's select phase
 * (driver/portForward.ts) and the ChampionAlias resource of `pulumi up` (components/registry) use it: on
 * a cluster MLflow is never exposed outside it.
 *
 * Node built-ins are `require`d inside the functions: ChampionAlias's dynamic provider carries this
 * module with it, serialized by value (see components/shared/httpFetch.ts).
 */
import type { ChildProcess } from "node:child_process";
import { httpFetch } from "./httpFetch";

export interface PortForwardCommand {
  readonly file: string;
  readonly args: readonly string[];
  /** From `-n <namespace>`, for error messages. */
  readonly namespace?: string;
}

/**
 * The tracking phase's `portForwardCommand` (`kubectl -n <ns> port-forward svc/<svc> <port>:<port>`) as argv,
 * on the stack's kubeconfig context (the one the provider used) and bound to loopback only.
 */
export function portForwardArgv(command: string, kubeContext?: string): PortForwardCommand {
  const words = command.trim().split(/\s+/);
  if (words[0] !== "kubectl" || !words.includes("port-forward")) {
    throw new Error(`the tracking phase's portForwardCommand is '${command}': expected \`kubectl ... port-forward ...\` (rerun the init phase)`);
  }
  const nsIndex = words.findIndex((w) => w === "-n" || w === "--namespace");
  const namespace = nsIndex >= 0 ? words[nsIndex + 1] : undefined;
  return { file: words[0], args: [...(kubeContext ? ["--context", kubeContext] : []), ...words.slice(1), "--address", "127.0.0.1"], namespace };
}

export interface PortForwardOptions {
  readonly command: PortForwardCommand;
  /** e.g. `http://127.0.0.1:5000/health`; any answer below 500 means MLflow is reachable. */
  readonly healthUrl: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
}

export interface RunningPortForward {
  readonly pid: number;
  stop(): Promise<void>;
}

const shown = (c: PortForwardCommand) => [c.file, ...c.args].join(" ");
const where = (c: PortForwardCommand) => (c.namespace ? ` (namespace ${c.namespace}: \`kubectl -n ${c.namespace} get pods,svc\` shows what runs)` : "");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function answers(url: string): Promise<boolean> {
  try {
    const res = await httpFetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

/** Resolves once `child` has exited (immediately if it already has). */
function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const exited = await Promise.race([exitOf(child).then(() => true), sleep(5000).then(() => false)]);
  if (!exited) {
    child.kill("SIGKILL");
    await exitOf(child);
  }
}

/** Starts the port-forward and waits until the health URL answers; a clear error if it never does. */
export async function startPortForward(opts: PortForwardOptions): Promise<RunningPortForward> {
  const { command } = opts;
  const log = opts.log ?? console.log;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  log(`[port-forward] ${shown(command)}`);
  const { spawn } = require("node:child_process") as typeof import("node:child_process");
  const child = spawn(command.file, [...command.args], { env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-2000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let failure: Error | undefined;
  child.once("error", (err: NodeJS.ErrnoException) => {
    failure =
      err.code === "ENOENT"
        ? new Error(
            `${command.file} not found on PATH: install kubectl (the driver reaches MLflow${command.namespace ? ` in namespace ${command.namespace}` : ""} with \`${shown(command)}\`)`,
          )
        : new Error(`${command.file} could not start: ${err.message}`);
  });
  child.once("exit", (code, signal) => {
    const tail = output.trim().split("\n").slice(-3).join(" | ");
    failure ??= new Error(`\`${shown(command)}\` exited (${signal ?? `code ${code}`}) before MLflow answered ${opts.healthUrl}${tail ? `: ${tail}` : ""}${where(command)}`);
  });

  while (failure === undefined) {
    if (await answers(opts.healthUrl)) {
      log(`[port-forward] MLflow answers ${opts.healthUrl} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return { pid: child.pid ?? -1, stop: () => stopChild(child) };
    }
    if (Date.now() - started > timeoutMs) {
      await stopChild(child);
      throw new Error(`MLflow did not answer ${opts.healthUrl} within ${Math.round(timeoutMs / 1000)} s through \`${shown(command)}\`${where(command)}`);
    }
    await sleep(250);
  }
  await stopChild(child);
  throw failure;
}

/** Runs `work` while the port-forward is up; always stops it afterwards. */
export async function withPortForward<T>(opts: PortForwardOptions, work: () => Promise<T>): Promise<T> {
  const forward = await startPortForward(opts);
  try {
    return await work();
  } finally {
    await forward.stop();
    (opts.log ?? console.log)("[port-forward] stopped");
  }
}

/** Where a resource's provider reaches MLflow: directly, or through the tracking phase's port-forward command. */
export interface TrackingReach {
  readonly trackingUri: string;
  readonly portForwardCommand?: string;
  readonly kubeContext?: string;
}

/**
 * Runs `work` with `reach.trackingUri` answering: at once without a port-forward command, else while it
 * runs. For dynamic providers, whose stdout is not the user's terminal: no progress lines.
 */
export async function withTrackingReach<T>(reach: TrackingReach, work: () => Promise<T>): Promise<T> {
  const forward = trackingForward(reach);
  return forward ? withPortForward({ ...forward, log: () => {} }, work) : work();
}

/** The port-forward that makes `reach.trackingUri` answer (its /health is the readiness check), or undefined when it answers as it is. */
export function trackingForward(reach: TrackingReach): PortForwardOptions | undefined {
  if (!reach.portForwardCommand) return undefined;
  return { command: portForwardArgv(reach.portForwardCommand, reach.kubeContext), healthUrl: `${reach.trackingUri.replace(/\/$/, "")}/health` };
}
