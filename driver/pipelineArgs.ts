import { parseFlags, stackName, UsageError } from "./cli";
import { type PhaseName, phaseNames } from "./phases";

export interface PipelineArgs {
  readonly stack: string;
  readonly phase: PhaseName | "all";
  readonly destroy: boolean;
  /** Replace every generated password (database role, object store, MLflow admin) in the init phase. */
  readonly rotateSecrets: boolean;
  /** The selection config; default config/metrics_config.yaml (or MLOPS_METRICS_CONFIG). */
  readonly metricsFile?: string;
}

export const pipelineUsage = `usage: npm run pipeline -- [--stack <name>] [--phase ${phaseNames.join("|")}] [--metrics <file>] [--destroy] [--rotate-secrets]`;
export const selectUsage = "usage: npm run select -- [--stack <name>] [--metrics <file>]   (the select phase alone, as `npm run pipeline -- --phase select`)";

const isPhase = (value: string): value is PhaseName | "all" => value === "all" || (phaseNames as readonly string[]).includes(value);

/** The pipeline's flags; a mistake is a one-line error with the usage, never a stack trace. */
export function parsePipelineArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PipelineArgs {
  const flags = parseFlags(
    argv,
    { stack: { type: "string" }, phase: { type: "string" }, metrics: { type: "string" }, destroy: { type: "boolean" }, "rotate-secrets": { type: "boolean" } },
    pipelineUsage,
  );
  const phase = flags.phase ?? "all";
  if (!isPhase(phase)) throw new UsageError(`--phase expects one of ${phaseNames.join(", ")}, got ${phase}`, pipelineUsage);
  if (flags.destroy && phase !== "all") throw new UsageError("--destroy removes every phase in reverse order: drop --phase", pipelineUsage);
  const rotateSecrets = flags["rotate-secrets"];
  if (rotateSecrets && (flags.destroy || (phase !== "all" && phase !== "init"))) {
    throw new UsageError("--rotate-secrets replaces the passwords in the init phase: use it without --destroy, with no --phase or --phase init", pipelineUsage);
  }
  return { stack: stackName(flags.stack, env), phase, destroy: flags.destroy, rotateSecrets, metricsFile: flags.metrics ?? (env.MLOPS_METRICS_CONFIG || undefined) };
}

/** `npm run select`: the pipeline's flags that make sense for the select phase alone. */
export function parseSelectArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PipelineArgs {
  const flags = parseFlags(argv, { stack: { type: "string" }, metrics: { type: "string" } }, selectUsage);
  return { stack: stackName(flags.stack, env), phase: "select", destroy: false, rotateSecrets: false, metricsFile: flags.metrics ?? (env.MLOPS_METRICS_CONFIG || undefined) };
}
