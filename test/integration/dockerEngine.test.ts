import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { skipOrFailInCI } from "../support/skips";

// scripts/docker/engine.sh on a real engine: it starts one when none answers, and `stop` only ever
// stops the dockerd it started itself (pid file), never an engine someone else runs.
const script = path.resolve(__dirname, "..", "..", "scripts", "docker", "engine.sh");
const cacheDir = process.env.MLOPS_CACHE_DIR ?? path.join(os.homedir(), ".cache", "mlops-pipeline");
const pidFile = path.join(cacheDir, "docker", "engine", "dockerd.pid");
const engine = (...args: string[]) => spawnSync("bash", [script, ...args], { encoding: "utf8", timeout: 300_000 });
/** Whether the Docker CLI reaches an engine, asked independently of engine.sh. */
const engineAnswers = () => spawnSync("docker", ["info"], { encoding: "utf8", timeout: 60_000 }).status === 0;

const first = engine("start");
const unavailable = first.status === 0 ? undefined : `no Docker engine could be started: ${first.stderr.trim().split("\n").slice(-2).join(" | ")}`;

describe.skipIf(skipOrFailInCI("the engine.sh test", unavailable))("scripts/docker/engine.sh (real dockerd)", () => {
  it("reports a running engine and is idempotent on start", () => {
    expect(engine("status").status).toBe(0);
    const again = engine("start");
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("engine already answers");
    expect(engineAnswers()).toBe(true);
  });

  it("stops only a dockerd it started, and starts it again", () => {
    const ours = fs.existsSync(pidFile);
    const stopped = engine("stop");
    expect(stopped.status).toBe(0);
    if (!ours) {
      // Someone else's engine: untouched.
      expect(stopped.stderr).toContain("leaving any other engine alone");
      expect(engine("status").status).toBe(0);
      return;
    }
    expect(fs.existsSync(pidFile)).toBe(false);
    const down = engine("status");
    expect(down.status).toBe(1);
    expect(down.stdout).toContain("no engine answers");
    expect(engineAnswers()).toBe(false);
    const started = engine("start");
    expect(started.status, started.stderr).toBe(0);
    expect(started.stderr).toMatch(/engine answers after \d+s/);
    expect(engine("status").stdout).toContain("started by engine.sh");
  });
});
