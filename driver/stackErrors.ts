/**
 * The Automation API's typed errors as one-line messages that say what to do. Only a failed engine run
 * (a plain `CommandError`) is read as text, and only to pick the engine's own `error:` lines out of its
 * transcript; the full transcript stays in the log file.
 */
import { CommandError, ConcurrentUpdateError, StackNotFoundError } from "@pulumi/pulumi/automation";
import { UserError } from "./cli";
import { phaseOfStack } from "./phases";

export interface StackErrorContext {
  /** The user's stack (`local`, `dev`): phase stacks are named after it. */
  readonly stack: string;
  /** The phase stack the operation ran on. */
  readonly stackName: string;
  /** Where the engine's full output went. */
  readonly logFile?: string;
}

/** How the user runs the pipeline on `stack`: `make pipeline` (default stack) or `make pipeline STACK=<stack>`. */
const makePipeline = (stack: string) => (stack === "local" ? "make pipeline" : `make pipeline STACK=${stack}`);

/** The engine's own `error:` lines of a failed run, without its whole transcript. */
export function engineErrorLines(text: string): string[] {
  return [
    ...new Set(
      text
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("error:") && l !== "error: update failed"),
    ),
  ];
}

/** A clear error for a failed stack operation; errors that are not the Automation API's pass through unchanged. */
export function explainStackError(err: unknown, ctx: StackErrorContext): unknown {
  if (err instanceof StackNotFoundError) {
    const phase = phaseOfStack(ctx.stack, ctx.stackName);
    const run = phase ? `run \`${makePipeline(ctx.stack)}\` or \`--phase ${phase.name}\` first` : `run \`${makePipeline(ctx.stack)}\` first`;
    return new UserError(`stack ${ctx.stackName} does not exist: ${run}`);
  }
  if (err instanceof ConcurrentUpdateError) {
    return new UserError(`another update is running on stack ${ctx.stackName}: wait for it or run \`pulumi cancel --stack ${ctx.stackName}\` (after \`source scripts/env.sh\`)`);
  }
  if (err instanceof CommandError) {
    const errors = engineErrorLines(err.message);
    if (errors.length === 0) return err;
    return new Error(`stack ${ctx.stackName} failed:\n  ${errors.join("\n  ")}${ctx.logFile ? `\n  (full engine log: ${ctx.logFile})` : ""}`);
  }
  return err;
}
