import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { tempProject } from "./configFixtures";

const repo = path.resolve(__dirname, "..", "..");
const validateScript = path.join(repo, "driver", "bin", "validate.ts");
const shippedMetrics = fs.readFileSync(path.join(repo, "config", "metrics_config.yaml"), "utf8");

/** Runs `tsx driver/bin/validate.ts` as a user would (a real subprocess), from the repository. */
function validate(...args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", validateScript, ...args], { cwd: repo, encoding: "utf8", env: { ...process.env, STACK: "" } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const goodStack = ["config:", "  mlops:platform: local", "  mlops:training:", "    searchSpace: { max_depth: { values: [2, 4, 8] } }", "    workers: 5", ""].join("\n");

describe("npm run validate (subprocess)", () => {
  it("prints an ok summary for a shipped stack and exits 0", () => {
    const run = validate("--stack", "dev");
    expect(run.stderr).toBe("");
    expect(run.stdout.split("\n")[0]).toBe("ok: Pulumi.dev.yaml (platform docker, 8 trials over 4 workers)");
    expect(run.status).toBe(0);
  });

  it("says when fewer workers run than configured", () => {
    const dir = tempProject({ "Pulumi.small.yaml": goodStack, "config/metrics_config.yaml": shippedMetrics });
    const run = validate("--stack", "small", "--project-dir", dir);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("ok: Pulumi.small.yaml (platform local, 3 trials over 3 workers)");
    expect(run.stdout).toContain("ok: config/metrics_config.yaml (champion: best cv_f1_macro_mean desc, registered as mlops-classifier@champion)");
    expect(run.stdout).toContain("note: 5 workers configured but only 3 trials: 3 workers will run");
  });

  it("prints every problem of both files, one per line, no stack trace, exit 1", () => {
    const badStack = ["config:", "  mlops:platform: local", "  mlops:training:", "    cvFolds: 1", "    modelFamly: svm", ""].join("\n");
    const badMetrics = shippedMetrics.replace("showTop: 5", "showTop: 500");
    const dir = tempProject({ "Pulumi.bad.yaml": badStack, "config/metrics_config.yaml": badMetrics });
    const run = validate("--stack", "bad", "--project-dir", dir);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr.trim().split("\n")).toEqual([
      "Pulumi.bad.yaml:4: mlops:training.cvFolds: expected an integer >= 2, got 1",
      "Pulumi.bad.yaml:5: mlops:training.modelFamly: unknown key: did you mean 'modelFamily'?",
      "config/metrics_config.yaml:17: showTop: expected a number <= 100, got 500",
    ]);
  });

  it("checks a metrics file given with --metrics against the stack's scoring", () => {
    const dir = tempProject({ "Pulumi.s.yaml": goodStack.replace("workers: 5", "scoring: accuracy"), "other.yaml": shippedMetrics });
    const run = validate("--stack", "s", "--project-dir", dir, "--metrics", path.join(dir, "other.yaml"));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("other.yaml:10: orderBy.metric: expected a metric the trainer logs for classification scoring accuracy");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("names a missing stack file and lists the stacks that exist", () => {
    const dir = tempProject({ "Pulumi.alpha.yaml": goodStack, "Pulumi.beta.yaml": goodStack, "config/metrics_config.yaml": shippedMetrics });
    const run = validate("--stack", "gamma", "--project-dir", dir);
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe("Pulumi.gamma.yaml: (file): expected a stack file for stack 'gamma' (existing stacks: alpha, beta)");
  });

  it("refuses an unknown flag with the usage and exit 2", () => {
    const run = validate("--stak", "dev");
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("unknown argument --stak\nusage: npm run validate -- [--stack <name>] [--metrics <file>] [--project-dir <dir>] [--skip-python]\n");
  });
});
