import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, formatProblem, loadMetricsConfig, loadStackConfig } from "../../config";

/** A throwaway project directory holding the given files (relative path -> text). */
export function tempProject(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-config-"));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** The formatted problems a load throws, or [] when it loads clean. */
export function problemLines(load: () => unknown): string[] {
  try {
    load();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
}

export function stackProblems(yaml: string, stack = "t"): string[] {
  const dir = tempProject({ [`Pulumi.${stack}.yaml`]: yaml });
  return problemLines(() => loadStackConfig(dir, stack));
}

export function metricsProblemLines(yaml: string): string[] {
  const dir = tempProject({ "metrics.yaml": yaml });
  return problemLines(() => loadMetricsConfig(path.join(dir, "metrics.yaml"), "metrics.yaml"));
}

export const validMetricsYaml = ["orderBy: { metric: cv_f1_macro_mean }", "registeredModel: { name: m }", ""].join("\n");
