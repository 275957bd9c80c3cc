/**
 * `npm run preview` for real, in render mode (no cluster): a private copy of Pulumi.prod.yaml in a temp
 * project folder and a temp file backend, so no real stack or state is touched. The baseline is
 * recorded with `--render --update`; a second preview must show nothing; after `serving.replicas` goes
 * 3 -> 5 the diff must be exactly one update, to the serving Deployment's spec.replicas.
 * Needs the toolchain (`make toolchain`); skipped with the reason printed otherwise (a failure in CI).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreviewReport } from "../../driver/preview";
import { toolchainMissingReason } from "../support/prerequisites";
import { skipOrFailInCI } from "../support/skips";

const repoDir = path.resolve(__dirname, "../..");
const skipped = skipOrFailInCI("preview tests", toolchainMissingReason());

const stack = `pvw${process.pid}`;

interface Run {
  status: number;
  output: string;
  report?: PreviewReport;
}

describe.skipIf(skipped)("npm run preview -- --render (real engine, temp backend, private stack)", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-preview-test-"));
  const projectDir = path.join(scratch, "project");
  const backendDir = path.join(scratch, "backend");
  const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
  let first: Run;
  let unchanged: Run;
  let changed: Run;

  function preview(name: string, ...flags: string[]): Run {
    const jsonFile = path.join(scratch, `${name}.json`);
    const { PULUMI_CONFIG_PASSPHRASE_FILE: _userFile, ...inherited } = process.env;
    const env = { ...inherited, PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_CONFIG_PASSPHRASE: "preview-test-only" };
    const started = Date.now();
    const args = ["--import", "tsx", path.join(repoDir, "driver", "bin", "preview.ts"), "--stack", stack, "--project-dir", projectDir, "--json", jsonFile, ...flags];
    const res = spawnSync(process.execPath, args, { cwd: repoDir, env, encoding: "utf8", timeout: 600_000 });
    const output = `${res.stdout}${res.stderr}`;
    console.log(
      `--- preview ${flags.join(" ")} (${name}): exit ${res.status} in ${((Date.now() - started) / 1000).toFixed(1)} s\n${output
        .split("\n")
        .filter((l) => l.startsWith("[preview]"))
        .join("\n")}`,
    );
    const report = fs.existsSync(jsonFile) ? (JSON.parse(fs.readFileSync(jsonFile, "utf8")) as PreviewReport) : undefined;
    return { status: res.status ?? -1, output, report };
  }

  function setReplicas(replicas: number): void {
    const doc = parseYaml(fs.readFileSync(stackFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
    doc.config["mlops:serving"] = { ...doc.config["mlops:serving"], replicas };
    fs.writeFileSync(stackFile, toYaml(doc));
  }

  beforeAll(() => {
    fs.mkdirSync(path.join(projectDir, "config"), { recursive: true });
    fs.copyFileSync(path.join(repoDir, "config", "metrics_config.yaml"), path.join(projectDir, "config", "metrics_config.yaml"));
    const prod = parseYaml(fs.readFileSync(path.join(repoDir, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, Record<string, unknown>> };
    // With an HPA the Deployment leaves spec.replicas to it; without one, serving.replicas is the Deployment's.
    const { autoscaling: _hpa, ...serving } = prod.config["mlops:serving"] ?? {};
    prod.config["mlops:serving"] = serving;
    fs.writeFileSync(stackFile, toYaml(prod));
    expect(serving.replicas).toBe(3);

    first = preview("baseline", "--render", "--update");
    unchanged = preview("unchanged", "--render");
    setReplicas(5);
    changed = preview("changed", "--render");
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("records the baseline: everything to create on a fresh backend, in every phase", () => {
    expect(first.status, first.output).toBe(0);
    const phases = first.report?.phases ?? [];
    expect(phases.map((p) => [p.phase, p.stackName])).toEqual([
      ["tracking", `${stack}-render-tracking`],
      ["training", `${stack}-render-training`],
      ["serving", `${stack}-render-serving`],
    ]);
    for (const p of phases) {
      expect(p.summary.create, p.phase).toBeGreaterThan(0);
      expect(p.steps.every((s) => s.op === "create")).toBe(true);
    }
    expect(first.output).toMatch(/\[preview 3\/3 serving\] baseline recorded: \d+ change\(s\) applied in render mode/);
  });

  it("shows no change at all when nothing changed (stable secrets, names and render folders)", () => {
    expect(unchanged.status, unchanged.output).toBe(0);
    expect(unchanged.report?.phases.flatMap((p) => p.steps)).toEqual([]);
    expect(unchanged.output).toMatch(/\[preview\] total: 0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged/);
  });

  it("after serving.replicas 3 -> 5, reports exactly one update: the serving Deployment's spec.replicas", () => {
    expect(changed.status, changed.output).toBe(0);
    const report = changed.report as PreviewReport;
    const steps = report.phases.flatMap((p) => p.steps.map((s) => ({ phase: p.phase, ...s })));
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ phase: "serving", op: "update", type: "kubernetes:apps/v1:Deployment", name: `${stack}-serving-server` });
    expect(steps[0]?.changes).toEqual([{ path: "spec.replicas", old: 3, new: 5 }]);
    expect(report.total).toMatchObject({ update: 1 });
    expect(Object.entries(report.total).filter(([op, n]) => op !== "same" && n > 0)).toEqual([["update", 1]]);
  });

  it("prints the diff and a summary line per phase and a total", () => {
    expect(changed.output).toContain(`=== serving: diff of stack ${stack}-render-serving`);
    expect(changed.output).toMatch(/~ replicas: 3 => 5/);
    expect(changed.output).toMatch(/\[preview\] tracking: 0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged/);
    expect(changed.output).toMatch(/\[preview\] training: 0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged/);
    expect(changed.output).toMatch(/\[preview\] serving: 0 to create, 1 to update, 0 to replace, 0 to delete, \d+ unchanged/);
    expect(changed.output).toMatch(/\[preview\] total: 0 to create, 1 to update, 0 to replace, 0 to delete, \d+ unchanged/);
  });

  it("refuses --update without --render, and --render on a stack that is not on kubernetes, in one line each", () => {
    const update = preview("update-only", "--update");
    expect(update.status).not.toBe(0);
    expect(update.output).toContain("--update records the render-mode baseline: use it with --render");
    expect(update.output).not.toMatch(/\n\s+at /);
    fs.copyFileSync(path.join(repoDir, "Pulumi.local.yaml"), path.join(projectDir, "Pulumi.notk8s.yaml"));
    const res = spawnSync(process.execPath, ["--import", "tsx", path.join(repoDir, "driver", "bin", "preview.ts"), "--stack", "notk8s", "--project-dir", projectDir, "--render"], {
      cwd: repoDir,
      encoding: "utf8",
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain("Pulumi.notk8s.yaml: mlops:platform is 'local': preview --render needs a kubernetes stack");
  });
});
