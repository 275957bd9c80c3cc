import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { groupAlive, isAlive, runToCompletion, startDetached, stopProcessGroup, waitForHttp, writeFiles } from "../../components/local/supervisor";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "mlops-supervisor-"));
const started: number[] = [];
afterEach(async () => {
  for (const pid of started.splice(0)) await stopProcessGroup(pid, 1000);
});

describe("local process supervision (real processes)", () => {
  it("writes secret files with mode 0600 and never leaves a temp file", () => {
    const dir = tmp();
    writeFiles([{ path: path.join(dir, "a", "secret.ini"), content: "pw=x", mode: 0o600 }]);
    expect(fs.statSync(path.join(dir, "a", "secret.ini")).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.join(dir, "a"))).toEqual(["secret.ini"]);
  });

  it("runs a job to completion, appends its output to the log and reports the exit code", async () => {
    const dir = tmp();
    const log = path.join(dir, "job.log");
    const ok = await runToCompletion({ command: ["sh", "-c", "echo hello-$NAME"], cwd: dir, env: { NAME: "x" }, logFile: log }, 10_000);
    expect(ok.exitCode).toBe(0);
    const bad = await runToCompletion({ command: ["sh", "-c", "exit 3"], cwd: dir, env: {}, logFile: log }, 10_000);
    expect(bad.exitCode).toBe(3);
    expect(fs.readFileSync(log, "utf8")).toContain("hello-x");
  });

  it("does not pass the engine's PULUMI_* variables to workloads", async () => {
    const dir = tmp();
    const log = path.join(dir, "env.log");
    process.env.PULUMI_CONFIG_PASSPHRASE = "must-not-leak";
    try {
      await runToCompletion({ command: ["sh", "-c", "env"], cwd: dir, env: { KEEP: "1" }, logFile: log }, 10_000);
    } finally {
      delete process.env.PULUMI_CONFIG_PASSPHRASE;
    }
    const out = fs.readFileSync(log, "utf8");
    expect(out).toContain("KEEP=1");
    expect(out).not.toContain("must-not-leak");
  });

  it("kills a job that outlives its timeout", async () => {
    const dir = tmp();
    const res = await runToCompletion({ command: ["sleep", "30"], cwd: dir, env: {}, logFile: path.join(dir, "l") }, 500);
    expect(res.exitCode).not.toBe(0);
    expect(res.seconds).toBeLessThan(10);
  });

  it("starts a detached server, waits for health, and stops its whole process group", async () => {
    const dir = tmp();
    const port = 20000 + Math.floor(Math.random() * 20000);
    // The server forks a child so we can check that no orphan survives.
    const pid = startDetached(
      { command: ["sh", "-c", `sleep 300 & exec python3 -m http.server ${port} --bind 127.0.0.1`], cwd: dir, env: {}, logFile: path.join(dir, "srv.log") },
      path.join(dir, "srv.pid"),
    );
    started.push(pid);
    expect(fs.readFileSync(path.join(dir, "srv.pid"), "utf8").trim()).toBe(String(pid));
    await waitForHttp(`http://127.0.0.1:${port}/`, pid, 20_000, path.join(dir, "srv.log"));
    expect(isAlive(pid)).toBe(true);
    expect(groupAlive(pid)).toBe(true);
    await stopProcessGroup(pid, 2000);
    expect(isAlive(pid)).toBe(false);
    expect(groupAlive(pid)).toBe(false);
  });

  it("reports a server that dies before it is healthy, with its log", async () => {
    const dir = tmp();
    const log = path.join(dir, "dies.log");
    const pid = startDetached({ command: ["sh", "-c", "echo boom-reason; exit 1"], cwd: dir, env: {}, logFile: log }, path.join(dir, "d.pid"));
    await expect(waitForHttp("http://127.0.0.1:9/", pid, 10_000, log)).rejects.toThrow(/boom-reason/);
  });
});
