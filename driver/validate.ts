/**
 * `npm run validate`: parses `Pulumi.<stack>.yaml` and the metrics config exactly as the pipeline would, touches
 * nothing, and prints either one `ok:` summary per file or every problem found, one per line.
 */
import * as path from "node:path";
import {
  modelId,
  ConfigError,
  type ConfigProblem,
  loadStackConfig,
  type MetricsConfig,
  metricsConfigPath,
  metricsProblems,
  parseMetricsConfig,
  readYamlSource,
  type StackConfig,
  sortByLine,
  stackFile,
} from "../config";
import { localPaths } from "../components/local/paths";
import { planStudy } from "../components/shared";
import { preflight } from "./preflight";
import { parseFlags, stackName } from "./cli";

export const validateUsage = "usage: npm run validate -- [--stack <name>] [--metrics <file>] [--project-dir <dir>] [--skip-python]";

/** The repository root: where `Pulumi.<stack>.yaml` files live unless --project-dir says otherwise. */
const repoRoot = path.resolve(__dirname, "..");

export interface ValidateOptions {
  readonly stack: string;
  readonly projectDir: string;
  /** Omitted: the default file of the stack's task (config/metrics_config.yaml, or .regression.yaml). */
  readonly metricsFile?: string;
  /** Also run the trainer's Python check of the model and the data (driver/preflight.ts); `--skip-python` turns it off. */
  readonly python: boolean;
}

export function parseValidateArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ValidateOptions {
  const flags = parseFlags(argv, { stack: { type: "string" }, metrics: { type: "string" }, "project-dir": { type: "string" }, "skip-python": { type: "boolean" } }, validateUsage);
  const projectDir = path.resolve(flags["project-dir"] ?? repoRoot);
  return {
    stack: stackName(flags.stack, env),
    projectDir,
    ...(flags.metrics === undefined ? {} : { metricsFile: path.resolve(flags.metrics) }),
    python: flags["skip-python"] !== true,
  };
}

/** The name a file goes by in messages: relative to the project when inside it. */
function displayName(file: string, projectDir: string): string {
  const relative = path.relative(projectDir, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
}

function attempt<T>(problems: ConfigProblem[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return undefined;
  }
}

/** Validates both files; returns the lines to print on success, throws ConfigError listing every problem otherwise. */
export function validate(options: ValidateOptions): string[] {
  const problems: ConfigProblem[] = [];
  const stackShown = path.basename(stackFile(options.projectDir, options.stack));
  const config: StackConfig | undefined = attempt(problems, () => loadStackConfig(options.projectDir, options.stack));
  const metricsFile = options.metricsFile ?? metricsConfigPath(options.projectDir, config?.training.task);
  const metricsShown = displayName(metricsFile, options.projectDir);
  const metricsSource = attempt(problems, () => readYamlSource(metricsFile, metricsShown));
  const metrics: MetricsConfig | undefined = metricsSource && attempt(problems, () => parseMetricsConfig(metricsSource.value, metricsShown, metricsSource.locate));
  if (config && metrics && metricsSource) problems.push(...sortByLine(metricsProblems(metrics, config.training, metricsShown, metricsSource.locate)));
  if (problems.length > 0 || !config || !metrics) throw new ConfigError(problems);

  const plan = planStudy(options.stack, config.training);
  const workers = plan.shards.length;
  const lines = [
    `ok: ${stackShown} (platform ${config.platform}, ${plan.trials.length} trials over ${workers} workers)`,
    `ok: ${metricsShown} (champion: best ${metrics.orderBy.metric.replaceAll("{scoring}", config.training.scoring)} ${metrics.orderBy.direction}, registered as ${metrics.registeredModel.name}@${metrics.registeredModel.alias})`,
    `study: ${plan.study.studyId} (${modelId(config.training.model)} ${config.training.task}, ${config.training.strategy.kind} search, ${config.training.cvFolds}-fold CV on ${config.training.scoring})`,
  ];
  if (plan.duplicatesDropped > 0)
    lines.push(
      `note: ${plan.duplicatesDropped} duplicate trial(s) dropped: the search space has fewer distinct settings than the ${plan.trials.length + plan.duplicatesDropped} asked for`,
    );
  if (plan.requestedWorkers > workers) lines.push(`note: ${plan.requestedWorkers} workers configured but only ${plan.trials.length} trials: ${workers} workers will run`);
  if (options.python)
    preflight(options.stack, config, localPaths(options.projectDir, options.stack, config.training.requirements, path.join(repoRoot, ".venv")), options.projectDir, (line) =>
      lines.push(line),
    );
  return lines;
}
