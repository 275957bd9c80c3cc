export const phases = ["init", "train", "select", "deploy"] as const;
export type Phase = (typeof phases)[number];

export interface PipelineArgs {
  readonly stack: string;
  readonly phase: Phase | "all";
  readonly destroy: boolean;
  /** Replace every generated password (database role, object store, MLflow admin) in the init phase. */
  readonly rotateSecrets: boolean;
  /** The selection config; default config/metrics_config.yaml (or MLOPS_METRICS_CONFIG). */
  readonly metricsFile?: string;
}

export const pipelineUsage = "usage: npm run pipeline -- [--stack <name>] [--phase init|train|select|deploy] [--metrics <file>] [--destroy] [--rotate-secrets]";

/** Parses the driver's flags; a mistake is a one-line error with the usage, never a stack trace. */
export function parsePipelineArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): PipelineArgs {
  let stack = env.STACK || "local";
  let phase: PipelineArgs["phase"] = "all";
  let destroy = false;
  let rotateSecrets = false;
  let metricsFile = env.MLOPS_METRICS_CONFIG || undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--stack" && value && !value.startsWith("--")) {
      stack = value;
      i++;
    } else if (flag === "--phase" && value && (phases as readonly string[]).includes(value)) {
      phase = value as Phase;
      i++;
    } else if (flag === "--phase") {
      throw new Error(`--phase expects one of ${phases.join(", ")}, got ${value ?? "nothing"}\n${pipelineUsage}`);
    } else if (flag === "--metrics" && value && !value.startsWith("--")) {
      metricsFile = value;
      i++;
    } else if (flag === "--destroy") {
      destroy = true;
    } else if (flag === "--rotate-secrets") {
      rotateSecrets = true;
    } else {
      throw new Error(`unknown argument ${flag}\n${pipelineUsage}`);
    }
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new Error(`--stack expects a stack name (letters, digits, '-', '_', '.'), got ${stack}`);
  if (destroy && phase !== "all") throw new Error("--destroy removes every phase in reverse order: drop --phase");
  if (rotateSecrets && (destroy || (phase !== "all" && phase !== "init"))) throw new Error("--rotate-secrets replaces the passwords in the init phase: use it without --destroy, with no --phase or --phase init");
  return { stack, phase, destroy, rotateSecrets, metricsFile };
}
