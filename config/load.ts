import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, type ConfigProblem, problemsFromZod } from "./errors";
import { type MetricsConfig, metricsConfigSchema } from "./metricsConfig";
import { type StackConfig, secretKeys, stackConfigSchema, withPlatformDefaults } from "./stackConfig";

export const configNamespace = "mlops";

/** Parses the `mlops:` keys of a stack's config values. Throws ConfigError with every problem found. */
export function parseStackConfig(values: Record<string, unknown>, file: string): StackConfig {
  const namespaced: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(values)) {
    const [ns, name] = key.includes(":") ? key.split(":", 2) : [undefined, key];
    if (ns !== configNamespace || name === undefined) continue;
    if ((secretKeys as readonly string[]).includes(name)) continue;
    if (isSecureValue(value)) {
      problems.push({ file, key, message: `a secret here is not expected; secrets go in ${secretKeys.join(", ")}` });
      continue;
    }
    namespaced[name] = value;
  }
  const result = stackConfigSchema.safeParse(namespaced, { reportInput: true });
  if (!result.success) problems.push(...problemsFromZod(result.error, file, configNamespace));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return withPlatformDefaults(result.data);
}

export function parseMetricsConfig(raw: unknown, file: string): MetricsConfig {
  const result = metricsConfigSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!result.success) throw new ConfigError(problemsFromZod(result.error, file));
  return result.data;
}

function isSecureValue(value: unknown): boolean {
  return typeof value === "object" && value !== null && "secure" in value;
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConfigError([{ file, key: "(file)", message: "expected the file to exist and be readable" }]);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigError([{ file, key: "(file)", message: `expected valid YAML: ${reason}` }]);
  }
}

export function stackFile(projectDir: string, stack: string): string {
  return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

/** Reads and parses `Pulumi.<stack>.yaml`. */
export function loadStackConfig(projectDir: string, stack: string): StackConfig {
  const file = stackFile(projectDir, stack);
  const doc = readYaml(file);
  const shown = path.basename(file);
  if (doc !== null && typeof doc !== "object") throw new ConfigError([{ file: shown, key: "(file)", message: "expected a mapping with a 'config' key" }]);
  const config = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError([{ file: shown, key: "config", message: "expected a mapping of config keys" }]);
  }
  return parseStackConfig(config as Record<string, unknown>, shown);
}

export const metricsConfigPath = (projectDir: string) => path.join(projectDir, "config", "metrics_config.yaml");

export function loadMetricsConfig(file: string): MetricsConfig {
  return parseMetricsConfig(readYaml(file), path.relative(process.cwd(), file) || file);
}
