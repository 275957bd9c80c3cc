import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, type ConfigProblem, sortByLine } from "./errors";
import { defaultMessages, problemsFromZod } from "./issues";
import { type MetricsConfig, metricsConfigSchema } from "./metricsConfig";
import { isSecureValue, plainSecretMessage, secretNames, unexpectedSecretMessage } from "./secrets";
import type { Task } from "./scorers";
import { type StackConfig, secretKeys, stackConfigSchema, withPlatformDefaults } from "./stackConfig";
import { readYamlSource } from "./yamlSource";

export const configNamespace = "mlops";

/** Line of a data path in the file being parsed (1-based), when the caller knows it. */
export type Locate = (path: readonly PropertyKey[]) => number | undefined;

const parseOptions = { reportInput: true, error: defaultMessages } as const;
const knownNames: readonly string[] = [...Object.keys(stackConfigSchema.shape), ...secretKeys];

/**
 * Parses a stack's config values as written in `Pulumi.<stack>.yaml` (secrets as `{ secure: ... }`).
 * Keys of other namespaces (providers) are ignored. Throws ConfigError with every problem found.
 * `locate` receives paths whose first element is the full key, e.g. `["mlops:training", "cvFolds"]`.
 */
export function parseStackConfig(values: Record<string, unknown>, file: string, locate?: Locate): StackConfig {
  const problems: ConfigProblem[] = [];
  const report = (key: string, message: string) => problems.push({ file, key, message, ...lineField(locate?.([key])) });
  const ours: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const colon = key.indexOf(":");
    const name = key.slice(colon + 1);
    if (colon >= 0 && key.slice(0, colon) === configNamespace) ours[name] = value;
    else if (knownNames.includes(name)) report(key, `expected the ${configNamespace}: namespace: write ${configNamespace}:${name}`);
  }
  const secrets = secretNames(ours);
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(ours)) {
    const key = `${configNamespace}:${name}`;
    if (secrets.has(name)) {
      if (!isSecureValue(value)) report(key, plainSecretMessage(key));
    } else if (isSecureValue(value)) {
      report(key, unexpectedSecretMessage(secrets));
    } else {
      plain[name] = value;
    }
  }
  const result = stackConfigSchema.safeParse(plain, parseOptions);
  if (!result.success) {
    const locateData: Locate = (p) => locate?.(p.length === 0 ? [] : [`${configNamespace}:${String(p[0])}`, ...p.slice(1)]);
    problems.push(...problemsFromZod(result.error, { file, namespace: configNamespace, schema: stackConfigSchema, locate: locateData, input: plain }));
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(sortByLine(problems));
  return withPlatformDefaults(result.data);
}

export function parseMetricsConfig(raw: unknown, file: string, locate?: Locate): MetricsConfig {
  const result = metricsConfigSchema.safeParse(raw ?? {}, parseOptions);
  if (!result.success) throw new ConfigError(sortByLine(problemsFromZod(result.error, { file, schema: metricsConfigSchema, locate, input: raw })));
  return result.data;
}

function lineField(line: number | undefined): { line?: number } {
  return line === undefined ? {} : { line };
}

export function stackFile(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

/** Stack names that have a `Pulumi.<stack>.yaml` in `projectDir`, sorted. */
export function existingStacks(projectDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(projectDir);
  } catch {
    return [];
  }
  return names.flatMap((n) => /^Pulumi\.(.+)\.yaml$/.exec(n)?.[1] ?? []).sort();
}

/** Reads and parses `Pulumi.<stack>.yaml`; a missing file is reported with the stacks that do exist. */
export function loadStackConfig(projectDir: string, stack: string): StackConfig {
  const file = stackFile(projectDir, stack);
  const shown = path.basename(file);
  if (!fs.existsSync(file)) {
    const stacks = existingStacks(projectDir);
    const known = stacks.length > 0 ? `existing stacks: ${stacks.join(", ")}` : `no Pulumi.<stack>.yaml in ${projectDir}`;
    throw new ConfigError([{ file: shown, key: "(file)", message: `expected a stack file for stack '${stack}' (${known})` }]);
  }
  const source = readYamlSource(file, shown);
  const doc = source.value;
  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    throw new ConfigError([{ file: shown, key: "(file)", message: "expected a mapping with a 'config' key", line: 1 }]);
  }
  const config = (doc as { config?: unknown } | null | undefined)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError([{ file: shown, key: "config", message: "expected a mapping of config keys", ...lineField(source.locate(["config"])) }]);
  }
  return parseStackConfig(config as Record<string, unknown>, shown, (p) => source.locate(["config", ...p]));
}

/**
 * Where a key of the stack file is, for problems found after parsing (the trainer's preflight check):
 * `key` is a path under the `mlops:` namespace, e.g. `["training", "estimator"]`.
 */
export function locateStackKey(projectDir: string, stack: string): { file: string; line: (key: readonly string[]) => number | undefined } {
  const file = stackFile(projectDir, stack);
  const source = readYamlSource(file, path.basename(file));
  const line = (key: readonly string[]) => {
    const [head, ...rest] = key;
    // The nearest written ancestor: a defaulted key has no line of its own.
    for (let depth = rest.length; depth >= 0; depth--) {
      const found = source.locate(["config", `${configNamespace}:${head}`, ...rest.slice(0, depth)]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return { file: path.basename(file), line };
}

/** The champion rules a stack uses unless told otherwise: one default file per task. */
export const metricsConfigPath = (projectDir: string, task: Task = "classification") =>
  path.join(projectDir, "config", task === "regression" ? "metrics_config.regression.yaml" : "metrics_config.yaml");

/** Reads and parses a metrics config; messages name the file as `shown` (default: relative to the working directory). */
export function loadMetricsConfig(file: string, shown: string = path.relative(process.cwd(), file) || file): MetricsConfig {
  const source = readYamlSource(file, shown);
  return parseMetricsConfig(source.value, shown, source.locate);
}
