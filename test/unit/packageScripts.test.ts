// Every `npm run <script>` names files that exist, and every driver command answers `--help` with its usage.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(__dirname, "..", "..");
const scripts = (JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

/** The files a script runs: words that look like a path to a source file (`tsx driver/bin/x.ts`). */
const targetFiles = (command: string) => command.split(/\s+/).filter((word) => /^[\w./-]+\.(ts|js|mjs|cjs|sh|py)$/.test(word));

/** Scripts that run a driver entry point with tsx. */
const driverScripts = Object.entries(scripts).filter(([, command]) => /^tsx driver\//.test(command));

function npmRun(script: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "--silent", script, "--", ...args], { cwd: repo, env: { ...process.env, STACK: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("package.json scripts", () => {
  it("name only files that exist", () => {
    const named = Object.entries(scripts).flatMap(([name, command]) => targetFiles(command).map((file) => [name, file]));
    expect(named.length).toBeGreaterThanOrEqual(driverScripts.length);
    expect(named.filter(([, file]) => !fs.existsSync(path.join(repo, file as string)))).toEqual([]);
  });

  it("include every driver command, each a thin file under driver/bin", () => {
    expect(driverScripts.map(([name]) => name).sort()).toEqual(["pipeline", "predict", "preview", "render", "select", "validate"]);
    for (const [name, command] of driverScripts) expect(command).toBe(`tsx driver/bin/${name}.ts`);
  });

  // One subprocess per command, as a user runs it; they load no Pulumi SDK before the flags are checked.
  it("answer --help with their usage on stdout and exit 0", { timeout: 120_000 }, async () => {
    const runs = await Promise.all(driverScripts.map(async ([name]) => ({ name, ...(await npmRun(name, "--help")) })));
    for (const run of runs) {
      expect({ name: run.name, status: run.status, stderr: run.stderr }).toEqual({ name: run.name, status: 0, stderr: "" });
      expect(run.stdout.startsWith(`usage: npm run ${run.name} -- `), run.stdout).toBe(true);
    }
  });
});
