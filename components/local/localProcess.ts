import * as pulumi from "@pulumi/pulumi";
import { type FileSpec, isAlive, startDetached, stopProcessGroup, waitForHttp } from "./supervisor";

/** Inputs of a supervised long-running process (a server) on this machine. */
export interface LocalProcessArgs {
  readonly command: pulumi.Input<pulumi.Input<string>[]>;
  readonly cwd: pulumi.Input<string>;
  readonly env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Environment that holds secrets: stored encrypted in state, never logged. */
  readonly secretEnv?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly files?: pulumi.Input<pulumi.Input<FileSpec>[]>;
  readonly directories?: pulumi.Input<pulumi.Input<string>[]>;
  readonly logFile: pulumi.Input<string>;
  readonly pidFile: pulumi.Input<string>;
  /** Polled after start; the resource is created once it answers 2xx. */
  readonly healthUrl?: pulumi.Input<string>;
  readonly startTimeoutSeconds?: pulumi.Input<number>;
  /** Anything whose change must restart the process in place (e.g. the champion's model version). */
  readonly restartTrigger?: pulumi.Input<string>;
  /** How long a restart or delete waits after SIGTERM before SIGKILL (default 30 s): the drain time. */
  readonly stopGraceSeconds?: pulumi.Input<number>;
}

interface ProcessState {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  secretEnv?: Record<string, string>;
  files?: FileSpec[];
  directories?: string[];
  logFile: string;
  pidFile: string;
  healthUrl?: string;
  startTimeoutSeconds?: number;
  restartTrigger?: string;
  stopGraceSeconds?: number;
  pid?: number;
}

/** Everything but the restart trigger: a change here replaces the process (stop, then start anew). */
const identity = (s: ProcessState) =>
  JSON.stringify([s.command, s.cwd, s.env ?? {}, s.secretEnv ?? {}, s.files ?? [], s.directories ?? [], s.logFile, s.pidFile, s.healthUrl ?? ""]);

/** Starts the process and waits for its health URL; a process that never gets healthy is stopped. */
async function startProcess(inputs: ProcessState) {
  const env = { ...(inputs.env ?? {}), ...(inputs.secretEnv ?? {}) };
  const pid = startDetached({ command: inputs.command, cwd: inputs.cwd, env, logFile: inputs.logFile, files: inputs.files, directories: inputs.directories }, inputs.pidFile);
  try {
    if (inputs.healthUrl) await waitForHttp(inputs.healthUrl, pid, (inputs.startTimeoutSeconds ?? 120) * 1000, inputs.logFile);
  } catch (err) {
    await stopProcessGroup(pid);
    throw err;
  }
  return { id: `${pid}`, outs: { ...inputs, pid } };
}

const processProvider: pulumi.dynamic.ResourceProvider = {
  create: startProcess,
  async diff(_id: string, olds: ProcessState, news: ProcessState) {
    // A process that died (crash, reboot) is drift: replace it so `up` brings it back.
    const replace = identity(olds) !== identity(news) || !isAlive(olds.pid);
    // Only the trigger changed (a new champion): an in-place restart, see update.
    const restart = !replace && (olds.restartTrigger ?? "") !== (news.restartTrigger ?? "");
    return { changes: replace || restart, replaces: replace ? ["command"] : [], deleteBeforeReplace: true };
  },
  /**
   * A rolling restart's step: SIGTERM (the server fails readiness at once, so the balancer's health
   * check takes it out, serves its drain time and finishes in-flight requests), wait until it is
   * gone, start it again on the same port and return only once its health URL answers 200, i.e.
   * the new model is loaded. Resources chained with `dependsOn` therefore restart one at a time.
   */
  async update(_id: string, olds: ProcessState, news: ProcessState) {
    await stopProcessGroup(olds.pid, (news.stopGraceSeconds ?? 30) * 1000);
    return { outs: (await startProcess(news)).outs };
  },
  async delete(_id: string, props: ProcessState) {
    await stopProcessGroup(props.pid, (props.stopGraceSeconds ?? 30) * 1000);
    const fs = require("node:fs") as typeof import("node:fs");
    fs.rmSync(props.pidFile, { force: true });
  },
};

/** A supervised server process: started detached with logs and a pid file, health-checked, stopped on delete. */
export class LocalProcess extends pulumi.dynamic.Resource {
  declare readonly pid: pulumi.Output<number>;
  constructor(name: string, args: LocalProcessArgs, opts?: pulumi.CustomResourceOptions) {
    super(processProvider, name, { ...args, pid: undefined }, { ...opts, additionalSecretOutputs: ["secretEnv", "files"] }, "local", "Process");
  }
}
