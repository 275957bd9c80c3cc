import * as pulumi from "@pulumi/pulumi";
import { describeEnd, type FileSpec, type RunResult, runToCompletion, tailOf } from "./supervisor";

export interface LocalJobArgs {
  readonly command: pulumi.Input<pulumi.Input<string>[]>;
  readonly cwd: pulumi.Input<string>;
  readonly env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly secretEnv?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly files?: pulumi.Input<pulumi.Input<FileSpec>[]>;
  readonly logFile: pulumi.Input<string>;
  /** What the job is, for error messages (e.g. "training worker 1 of 2"); defaults to its command. */
  readonly description?: pulumi.Input<string>;
  /** Extra attempts after a failed run (a worker's retries). */
  readonly retries?: pulumi.Input<number>;
  readonly timeoutSeconds?: pulumi.Input<number>;
}

interface JobState {
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  secretEnv?: Record<string, string>;
  files?: FileSpec[];
  logFile: string;
  description?: string;
  retries?: number;
  timeoutSeconds?: number;
  attempts?: number;
  seconds?: number;
}

const identity = (s: JobState) => JSON.stringify([s.command, s.cwd, s.env ?? {}, s.secretEnv ?? {}, s.files ?? []]);

const jobProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: JobState) {
    const env = { ...(inputs.env ?? {}), ...(inputs.secretEnv ?? {}) };
    const attemptsAllowed = 1 + (inputs.retries ?? 0);
    const timeoutSeconds = inputs.timeoutSeconds ?? 3600;
    let last: RunResult = { exitCode: -1, seconds: 0 };
    for (let attempt = 1; attempt <= attemptsAllowed; attempt++) {
      last = await runToCompletion({ command: inputs.command, cwd: inputs.cwd, env, logFile: inputs.logFile, files: inputs.files }, timeoutSeconds * 1000);
      if (last.exitCode === 0) {
        return { id: `${Date.now()}`, outs: { ...inputs, attempts: attempt, seconds: last.seconds } };
      }
    }
    const what = inputs.description ?? inputs.command.slice(0, 3).join(" ");
    throw new Error(`${what} ${describeEnd(last, timeoutSeconds)} after ${attemptsAllowed} attempt(s); its log: ${inputs.logFile}\n${tailOf(inputs.logFile)}`);
  },
  async diff(_id: string, olds: JobState, news: JobState) {
    // Retries and timeouts do not change what a job computes: only its command, env and files do.
    const changed = identity(olds) !== identity(news);
    return { changes: changed, replaces: changed ? ["command"] : [] };
  },
};

/** A process run to completion during `up`; a non-zero exit after its retries fails the deployment. */
export class LocalJob extends pulumi.dynamic.Resource {
  declare readonly attempts: pulumi.Output<number>;
  declare readonly seconds: pulumi.Output<number>;
  constructor(name: string, args: LocalJobArgs, opts?: pulumi.CustomResourceOptions) {
    super(jobProvider, name, { ...args, attempts: undefined, seconds: undefined }, { ...opts, additionalSecretOutputs: ["secretEnv", "files"] }, "local", "Job");
  }
}
