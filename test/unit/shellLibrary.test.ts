import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/** scripts/common.sh holds the one log, die, wait_until and TERM-wait-KILL of every script. */

const root = path.resolve(__dirname, "../..");
const library = "scripts/common.sh";

function shellScripts(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" }).flatMap((rel) => (rel.endsWith(".sh") ? [path.join(dir, rel)] : []));
}

describe("the shell library (scripts/common.sh)", () => {
  it("is the only script that defines log, die or wait_until, or sends TERM then KILL", () => {
    const copies: string[] = [];
    for (const file of shellScripts("scripts").filter((f) => f !== library)) {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      for (const name of ["log", "die", "fail", "wait_until", "stop_pid", "term_and_wait"]) {
        if (new RegExp(`^\\s*${name}\\s*\\(\\)`, "m").test(text)) copies.push(`${file}: ${name}()`);
      }
      // kill -TERM "$pid" of a single process (process groups, "-$pid", are signalled by their owners).
      if (/kill -TERM "\$/.test(text)) copies.push(`${file}: kill -TERM`);
    }
    expect(copies).toEqual([]);
  });

  const run = (script: string) => spawnSync("bash", ["-c", script], { cwd: root, encoding: "utf8" });

  it("keeps each family's prefixes", () => {
    const families: [string, string, string][] = [
      ["SERVICE_NAME=postgres; source scripts/services/common.sh", "[postgres] hi", "[postgres] error: bad"],
      ["source scripts/docker/lib.sh", "[docker] 0s hi", "error: bad"],
      ["source scripts/toolchain/common.sh", "[toolchain    0s] hi", "[toolchain] ERROR: bad"],
      ["source scripts/cluster/common.sh", "[cluster    0s] hi", "[cluster] ERROR: bad"],
    ];
    for (const [setup, logged, died] of families) {
      const res = run(`${setup}; log hi; die bad`);
      expect(res.status, setup).toBe(1);
      expect(res.stderr.trim().split("\n"), setup).toEqual([logged, died]);
    }
  });

  it("wait_until gives up after WAIT_SECONDS; stop_pid kills what ignores TERM", () => {
    const waited = run(`LOG_TAG=t; source ${library}; WAIT_SECONDS=2 wait_until "nothing" false; echo "status $?"`);
    expect(waited.stdout.trim()).toBe("status 1");
    const stubborn = run(`LOG_TAG=t; source ${library}; bash -c 'trap "" TERM; sleep 30' & p=$!; sleep 0.3; stop_pid $p 1 "ignored TERM"; wait $p; echo "exit $?"`);
    // (bash adds its own "Killed" job notice after our line)
    expect(stubborn.stderr.split("\n")[0]).toBe("[t] ignored TERM");
    expect(stubborn.stdout.trim()).toBe("exit 137");
  });
});
