import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { processAlive as alive, processRunning } from "../support/processes";

/**
 * scripts/services/scoped.sh, which every test tier that may start services runs in (scripts/test.sh):
 * what the tier started is stopped when it ends, also when it fails or is interrupted; what ran
 * before is left alone. Real processes, with stand-in service scripts of the same interface
 * (`start`, `status` exit 0 when running, idempotent `stop`) so no PostgreSQL or SeaweedFS is needed.
 */

const scoped = path.resolve(__dirname, "../../scripts/services/scoped.sh");
const dirs: string[] = [];

/** A stand-in service: `start` runs a detached sleep and records its pid, like the real scripts. */
function standIn(dir: string, name: string): { script: string; pidFile: string } {
  const pidFile = path.join(dir, `${name}.pid`);
  const script = path.join(dir, `${name}.sh`);
  fs.writeFileSync(
    script,
    [
      "set -u",
      `pid_file=${JSON.stringify(pidFile)}`,
      'alive() { [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }',
      'case "$1" in',
      '  start) alive || { setsid sleep 300 >/dev/null 2>&1 & echo $! >"$pid_file"; } ;;',
      "  status) alive ;;",
      '  stop) if alive; then kill "$(cat "$pid_file")"; fi; rm -f "$pid_file" ;;',
      "esac",
      "",
    ].join("\n"),
  );
  return { script, pidFile };
}

const pidOf = (pidFile: string) => Number(fs.readFileSync(pidFile, "utf8").trim());
/** The process was signalled: wait briefly for it to end (a zombie awaiting its reaper has ended). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && processRunning(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !processRunning(pid);
}

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-scoped-"));
  dirs.push(dir);
  const a = standIn(dir, "store");
  const b = standIn(dir, "server");
  return { dir, a, b, env: { ...process.env, SCOPED_SERVICE_SCRIPTS: `${b.script} ${a.script}` } };
}

afterEach(() => {
  for (const dir of dirs.splice(0)) {
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".pid"))) {
      const pid = pidOf(path.join(dir, file));
      if (alive(pid)) process.kill(pid);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("scripts/services/scoped.sh (real processes, stand-in services)", () => {
  it("stops the services a failing command started, and exits with the command's status", async () => {
    const { a, b, env } = setup();
    const run = spawnSync("bash", [scoped, "bash", "-c", `bash ${a.script} start && bash ${b.script} start && cat ${a.pidFile} ${b.pidFile} && exit 3`], { env, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(3);
    const pids = run.stdout.trim().split("\n").map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(await gone(pid), `service pid ${pid}`).toBe(true);
    expect(run.stderr).toContain("[scoped] stopping store: started during this run");
    expect(run.stderr).toContain("[scoped] stopping server: started during this run");
    expect(fs.existsSync(a.pidFile) || fs.existsSync(b.pidFile)).toBe(false);
  });

  it("leaves a service alone that was running before, and stops only the new one", async () => {
    const { a, b, env } = setup();
    spawnSync("bash", [a.script, "start"]);
    const before = pidOf(a.pidFile);
    const run = spawnSync("bash", [scoped, "bash", "-c", `bash ${b.script} start`], { env, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(alive(before)).toBe(true);
    expect(fs.existsSync(b.pidFile)).toBe(false);
    expect(run.stderr).not.toContain("stopping store");
  });

  it("stops what was started when the run is interrupted (TERM) while the command still runs", async () => {
    const { a, env } = setup();
    const group = path.join(path.dirname(a.pidFile), "command.pgid");
    const child = spawn("bash", [scoped, "bash", "-c", `echo $$ >${group}; bash ${a.script} start; sleep 60`], { env, stdio: "ignore" });
    for (let i = 0; i < 100 && !(fs.existsSync(a.pidFile) && fs.existsSync(group)); i++) await new Promise((r) => setTimeout(r, 100));
    const started = pidOf(a.pidFile);
    expect(alive(started)).toBe(true);
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exit).toBe(143);
    expect(await gone(started)).toBe(true);
    // The command's own children (here its `sleep 60`) got the TERM too: nothing of its group is left
    // once the ended ones are reaped.
    const groupLeft = () => {
      try {
        process.kill(-pidOf(group), 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && groupLeft(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(groupLeft()).toBe(false);
  }, 20_000);
});
