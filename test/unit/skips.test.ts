import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { inCI, type SkipContext, skipOrFailInCI } from "../support/skips";

const repo = path.resolve(__dirname, "..", "..");

/** The helper with its surroundings recorded: what it printed and which tests it registered. */
function recorded(env: NodeJS.ProcessEnv) {
  const warnings: string[] = [];
  const registered: { name: string; fn: () => void }[] = [];
  const context: SkipContext = { env, warn: (line) => warnings.push(line), register: (name, fn) => registered.push({ name, fn }) };
  return { context, warnings, registered };
}

/** test/unit/fixtures/skips/skippedSuite.ts in a vitest run of its own; plain text output (no colours). */
function runFixture(env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repo, "node_modules", "vitest", "vitest.mjs"), "run", "--config", "test/unit/fixtures/skips/vitest.config.ts"], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", CI: "", MLOPS_FIXTURE_REASON: "", ...env },
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, output }));
  });
}

describe("skipOrFailInCI (the one way a test file skips)", () => {
  it("runs the suite when nothing is missing, in CI or not, and says nothing", () => {
    for (const env of [{}, { CI: "true" }]) {
      const { context, warnings, registered } = recorded(env);
      expect(skipOrFailInCI("a suite", undefined, context)).toBe(false);
      expect([warnings, registered]).toEqual([[], []]);
    }
  });

  it("outside CI skips the suite and prints the reason", () => {
    const { context, warnings, registered } = recorded({ CI: "" });
    expect(skipOrFailInCI("the widget suite", "no widget here (run `make widget`)", context)).toBe(true);
    expect(warnings).toEqual(["SKIPPED the widget suite: no widget here (run `make widget`) (in CI this fails)"]);
    expect(registered).toEqual([]);
  });

  it("in CI skips the suite's own tests but registers one that fails with the reason", () => {
    const { context, warnings, registered } = recorded({ CI: "true" });
    expect(skipOrFailInCI("the widget suite", "no widget here", context)).toBe(true);
    expect(warnings).toEqual([]);
    expect(registered.map((t) => t.name)).toEqual(["the widget suite cannot run in CI: no widget here"]);
    expect(() => registered[0]?.fn()).toThrow(/^the widget suite cannot run in CI: no widget here \(CI=true/);
  });

  it("reads CI as scripts/test.sh does: set and not empty", () => {
    expect([inCI({}), inCI({ CI: "" }), inCI({ CI: "true" }), inCI({ CI: "1" })]).toEqual([false, false, true, true]);
  });

  it("in a real vitest run: skipped with the reason printed outside CI, a failed test naming the reason in CI", async () => {
    const [local, ci] = await Promise.all([runFixture({ MLOPS_FIXTURE_REASON: "no widget here" }), runFixture({ MLOPS_FIXTURE_REASON: "no widget here", CI: "true" })]);
    expect(local.status, local.output).toBe(0);
    expect(local.output).toContain("SKIPPED the fixture suite: no widget here (in CI this fails)");
    expect(local.output).toMatch(/Tests\s+1 skipped \(1\)/);
    expect(ci.status, ci.output).toBe(1);
    expect(ci.output).toMatch(/FAIL\s+test\/unit\/fixtures\/skips\/skippedSuite\.ts > the fixture suite cannot run in CI: no widget here/);
    expect(ci.output).toMatch(/Tests\s+1 failed \| 1 skipped \(2\)/);
  });
});

/** Source files under `dirs` (relative to the repo) whose name matches `pattern`, as repo-relative paths. */
function sources(dirs: readonly string[], pattern: RegExp): string[] {
  return dirs.flatMap((dir) =>
    fs
      .readdirSync(path.join(repo, dir), { recursive: true, encoding: "utf8" })
      .filter((file) => pattern.test(file) && !file.split(path.sep).includes("node_modules"))
      .map((file) => path.join(dir, file)),
  );
}

const read = (file: string) => fs.readFileSync(path.join(repo, file), "utf8");

/** The helpers a test file skips through: test/support/skips.ts and the suite-level ones built on it. */
const skipHelpers = /\b(skipOrFailInCI|canRunPipelineSuite|dockerSuiteSkipped|clusterSuiteSkipped)\(/;

describe("every conditional skip goes through the helpers", () => {
  const tsFiles = sources(["test", "components", "config"], /\.ts$/).filter((f) => f !== path.join("test", "support", "skips.ts"));
  const pyFiles = sources(["images", "python", "bench", "scripts"], /\.py$/).filter((f) => f !== path.join("python", "testing", "skips.py"));

  it("no TypeScript test reads CI, skips unconditionally, or skips on a condition of its own", () => {
    expect(tsFiles.length).toBeGreaterThan(50);
    expect(tsFiles.filter((f) => /process\.env\.CI\b/.test(read(f)))).toEqual([]);
    expect(tsFiles.filter((f) => /\b(describe|it|test|suite)\.(skip|todo|only)\b|\b(ctx|context)\.skip\(/.test(read(f)))).toEqual([]);
    const conditional = tsFiles.filter((f) => /\.(skipIf|runIf)\(/.test(read(f)));
    expect(conditional.length).toBeGreaterThan(20);
    expect(conditional.filter((f) => !skipHelpers.test(read(f)))).toEqual([]);
  });

  it("no Python test skips but through skip_or_fail_in_ci (python/testing/skips.py)", () => {
    expect(pyFiles.filter((f) => f.includes(`${path.sep}tests${path.sep}`)).length).toBeGreaterThan(10);
    expect(pyFiles.filter((f) => /pytest\.skip\(|pytest\.mark\.skip|skipif|importorskip|pytest\.xfail/.test(read(f)))).toEqual([]);
  });
});
