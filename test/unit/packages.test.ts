import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

// scripts/packages.sh is the one installer of Debian packages; scripts/packages.list the one list.
const repoRoot = path.resolve(__dirname, "..", "..");
const script = path.join(repoRoot, "scripts", "packages.sh");

function packages(list: string, ...args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "packages-"));
  const file = path.join(dir, "packages.list");
  fs.writeFileSync(file, list);
  const res = spawnSync("bash", [script, ...args], { encoding: "utf8", env: { ...process.env, MLOPS_PACKAGES_LIST: file } });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

const list = [
  "# comment",
  "",
  "tools  bash            bash",
  "tools  no-such-pkg     no-such-command-xyz",
  "files  root-dir        /",
  "files  absent-file     /no/such/*/path",
].join("\n");

describe("scripts/packages.sh", () => {
  it("lists the packages of the groups asked for, or of all", () => {
    expect(packages(list, "list").stdout.trim().split("\n")).toEqual(["bash", "no-such-pkg", "root-dir", "absent-file"]);
    expect(packages(list, "list", "files").stdout.trim().split("\n")).toEqual(["root-dir", "absent-file"]);
  });

  it("check names exactly the packages whose probe (command or path glob) is absent, and changes nothing", () => {
    const all = packages(list, "check");
    expect(all.status).toBe(1);
    expect(all.stderr).toContain("missing Debian packages: no-such-pkg absent-file");
    const files = packages(list, "check", "files");
    expect(files.stderr).not.toContain("no-such-pkg");
    expect(packages("tools bash bash\nfiles root-dir /\n", "check").status).toBe(0);
  });

  it("refuses a group the list does not have, naming the ones it has", () => {
    const res = packages(list, "check", "toolz");
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("unknown group 'toolz'");
    expect(res.stderr).toContain("files tools");
  });

  it("is the only place that runs apt-get install (Dockerfiles of images aside)", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (["node_modules", ".git", ".venv", ".pipeline", ".pulumi-state"].includes(entry.name)) continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\.(sh|ts|py)$|^Makefile$/.test(entry.name) && full !== script && !full.endsWith(path.join("unit", "packages.test.ts"))) {
          if (/apt-get\s+(-\S+\s+)*install/.test(fs.readFileSync(full, "utf8"))) offenders.push(path.relative(repoRoot, full));
        }
      }
    };
    walk(repoRoot);
    expect(offenders).toEqual([]);
  });

  it("lists what the cluster's image build needs before the node does (busybox-static, gcc)", () => {
    const cluster = spawnSync("bash", [script, "list", "cluster"], { encoding: "utf8" }).stdout.split("\n");
    expect(cluster).toEqual(expect.arrayContaining(["busybox-static", "gcc", "containerd", "runc", "conntrack", "iptables"]));
  });
});
