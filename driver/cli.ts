import { ConfigError, formatProblem } from "../config";

/**
 * Small helpers every driver entry point shares: flag parsing, and turning user mistakes into
 * one-line messages with a non-zero exit instead of a stack trace.
 */

/** A mistake in the command line; `usage` is printed after the message. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** A mistake the message fully explains (a phase run out of order, a locked stack): no stack-trace hint. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

export interface FlagSpec {
  readonly type: "string" | "boolean";
}
export type Flags<F extends Record<string, FlagSpec>> = { [K in keyof F]: F[K]["type"] extends "boolean" ? boolean : string | undefined };

/** Parses `--name value`, `--name=value` and boolean `--name`; `--help` asks runMain to print `usage` and exit 0. */
export function parseFlags<const F extends Record<string, FlagSpec>>(argv: readonly string[], spec: F, usage: string): Flags<F> {
  const values: Record<string, string | boolean | undefined> = Object.fromEntries(Object.entries(spec).map(([name, s]) => [name, s.type === "boolean" ? false : undefined]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") throw new UsageError("", usage, 0);
    const match = /^--([A-Za-z][\w-]*)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    const flag = name === undefined ? undefined : spec[name];
    if (match === null || name === undefined || flag === undefined) throw new UsageError(`unknown argument ${arg}`, usage);
    if (flag.type === "boolean") {
      if (match[2] !== undefined) throw new UsageError(`--${name} takes no value`, usage);
      values[name] = true;
      continue;
    }
    const value = match[2] ?? argv[i + 1];
    if (value === undefined || value === "" || (match[2] === undefined && value.startsWith("--"))) throw new UsageError(`--${name} expects a value`, usage);
    if (match[2] === undefined) i++;
    values[name] = value;
  }
  return values as Flags<F>;
}

/** A stack name from `--stack`, else $STACK, else `local`; refused unless Pulumi would accept it. */
export function stackName(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const stack = flag ?? (env.STACK || "local");
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new UsageError(`--stack expects a stack name (letters, digits, '-', '_', '.'), got ${stack}`);
  return stack;
}

/** Prints an error the way users should see it and returns the exit code. */
export function reportError(err: unknown, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) write(`${formatProblem(problem)}\n`);
    return 1;
  }
  if (err instanceof UsageError) {
    const text = [err.message, err.usage].filter((t) => t).join("\n");
    if (err.exitCode === 0) process.stdout.write(`${text}\n`);
    else write(`${text}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`error: ${message}\n`);
  if (err instanceof UserError) return 1;
  if (process.env.MLOPS_DEBUG && err instanceof Error && err.stack) write(`${err.stack}\n`);
  else write("(set MLOPS_DEBUG=1 to see the stack trace)\n");
  return 1;
}

/** Runs an entry point: a returned number is the exit code; a thrown error is reported without a stack trace. */
export function runMain(main: () => unknown): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        if (typeof code === "number") process.exitCode = code;
      },
      (err: unknown) => {
        process.exitCode = reportError(err);
      },
    );
}
