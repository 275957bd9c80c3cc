import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CommandLineSampler, filesContaining } from "../support/secretScan";

// The secret scans of test/support/secretScan.ts on this machine's real /proc and files.

const secret = () => `scan-${randomBytes(12).toString("hex")}`;

describe("CommandLineSampler", () => {
  let sampler: CommandLineSampler | undefined;
  afterEach(async () => {
    await sampler?.stop();
  });

  it("catches a short-lived process's command line that a scan after the run would miss", async () => {
    const value = secret();
    sampler = CommandLineSampler.start(20);
    // Lives about 0.3 s and is gone before the check: only sampling while it ran can see it.
    const child = spawnSync("sh", ["-c", "sleep 0.3; true", "sh", value]);
    expect(child.status).toBe(0);
    const hits = await sampler.containing(value);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatch(/^\d+: sh -c sleep 0\.3; true sh <secret> $/);
    expect(hits[0]).not.toContain(value);
  });

  it("finds nothing for a secret no process had, and keeps what it saw after stop()", async () => {
    const value = secret();
    sampler = CommandLineSampler.start(20);
    spawnSync("sh", ["-c", "sleep 0.2; true", "sh", "not-the-secret"]);
    await sampler.stop();
    expect(await sampler.containing(value)).toEqual([]);
    expect(await sampler.containing("not-the-secret")).toHaveLength(1);
    expect(sampler.summary()).toMatch(/^\d+ distinct command lines in \d+ samples$/);
  });

  it("refuses secrets too short to scan for", async () => {
    sampler = CommandLineSampler.start(20);
    await expect(sampler.containing("short")).rejects.toThrow(/shorter than 8 characters/);
  });
});

describe("filesContaining", () => {
  it("names the files that hold the secret and counts an unreadable file as a finding, by its path", () => {
    const value = secret();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-scan-"));
    try {
      fs.mkdirSync(path.join(dir, "logs"));
      fs.writeFileSync(path.join(dir, "logs", "a.log"), `line with ${value} in it\n`);
      fs.writeFileSync(path.join(dir, "clean.log"), "nothing here\n");
      expect(filesContaining(value, [dir])).toEqual([path.join(dir, "logs", "a.log")]);
      expect(filesContaining(value, [path.join(dir, "missing")])).toEqual([]);
      // A regular file even root cannot read (EIO): before, it counted as clean.
      expect(filesContaining(value, ["/proc/self/mem"])).toEqual(["/proc/self/mem: unreadable (EIO)"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
