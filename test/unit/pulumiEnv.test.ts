// driver/pulumiEnv.ts without a Pulumi CLI: paths, overrides, passphrase handling, the missing-CLI error.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { locatePulumiCli, passphraseEnv, prependPath, pulumiEnvVars, pulumiWorkspace, readToolchainVersions, ToolchainMissingError, toolchainPaths } from "../../driver/pulumiEnv";

const repoDir = path.resolve(__dirname, "../..");
let tmp = "";

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-env-"));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fake repo holding only what pulumiEnv reads: scripts/toolchain/versions.env. */
function fakeRepo(): string {
  const dir = path.join(tmp, "repo");
  fs.mkdirSync(path.join(dir, "scripts", "toolchain"), { recursive: true });
  fs.copyFileSync(path.join(repoDir, "scripts/toolchain/versions.env"), path.join(dir, "scripts/toolchain/versions.env"));
  return dir;
}

describe("toolchain versions and paths", () => {
  it("reads the pinned versions shared with the bash scripts", () => {
    const versions = readToolchainVersions(repoDir);
    expect(versions.PULUMI_CLI_VERSION).toMatch(/^3\.\d+\.\d+$/);
    expect(versions.KUBERNETES_PLUGIN_VERSION).toBe(JSON.parse(fs.readFileSync(path.join(repoDir, "node_modules/@pulumi/kubernetes/package.json"), "utf8")).version);
  });

  it("derives the cache layout from MLOPS_CACHE_DIR and honours MLOPS_PULUMI_HOME and PULUMI_BACKEND_URL", () => {
    const versions = readToolchainVersions(repoDir);
    const paths = toolchainPaths(repoDir, { MLOPS_CACHE_DIR: "/c" });
    expect(paths.pinnedCliBinDir).toBe(`/c/toolchain/pulumi-v${versions.PULUMI_CLI_VERSION}/bin`);
    expect(paths.pulumiHome).toBe("/c/pulumi-home");
    expect(paths.backendUrl).toBe(`file://${repoDir}/.pulumi-state`);
    const custom = toolchainPaths(repoDir, { MLOPS_CACHE_DIR: "/c", MLOPS_PULUMI_HOME: "/h", PULUMI_BACKEND_URL: "s3://bucket" });
    expect([custom.pulumiHome, custom.backendUrl]).toEqual(["/h", "s3://bucket"]);
  });

  it("prepends PATH folders once, however often it is applied", () => {
    const once = prependPath("/usr/bin:/bin", ["/cli", "/usr/bin"]);
    expect(once).toBe("/cli:/usr/bin:/bin");
    expect(prependPath(once, ["/cli"])).toBe(once);
  });
});

describe("passphraseEnv", () => {
  it("generates one random passphrase file with mode 0600 and reuses it", () => {
    const first = passphraseEnv(tmp, {});
    const file = first.PULUMI_CONFIG_PASSPHRASE_FILE;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const secret = fs.readFileSync(file, "utf8");
    expect(secret.length).toBeGreaterThanOrEqual(40);
    expect(passphraseEnv(tmp, {})).toEqual(first);
    expect(fs.readFileSync(file, "utf8")).toBe(secret);
  });

  it("keeps the user's passphrase or passphrase file and writes nothing", () => {
    expect(passphraseEnv(tmp, { PULUMI_CONFIG_PASSPHRASE: "mine" })).toEqual({ PULUMI_CONFIG_PASSPHRASE: "mine" });
    expect(passphraseEnv(tmp, { PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pp" })).toEqual({ PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pp" });
    expect(fs.existsSync(path.join(tmp, "passphrase"))).toBe(false);
  });
});

describe("locating the CLI", () => {
  it("prefers the pinned CLI in the cache over one on PATH", () => {
    const repo = fakeRepo();
    const env = { MLOPS_CACHE_DIR: path.join(tmp, "cache"), PATH: "" };
    const paths = toolchainPaths(repo, env);
    fs.mkdirSync(paths.pinnedCliBinDir, { recursive: true });
    fs.writeFileSync(path.join(paths.pinnedCliBinDir, "pulumi"), "#!/bin/sh\n", { mode: 0o755 });
    expect(locatePulumiCli(paths, env)).toEqual({ cli: path.join(paths.pinnedCliBinDir, "pulumi"), pathDirs: [paths.pinnedCliBinDir] });
  });

  it("uses a pulumi on PATH and adds our language host folder when that CLI has none beside it", () => {
    const repo = fakeRepo();
    const ambientDir = path.join(tmp, "ambient");
    fs.mkdirSync(ambientDir);
    fs.writeFileSync(path.join(ambientDir, "pulumi"), "#!/bin/sh\n", { mode: 0o755 });
    const env = { MLOPS_CACHE_DIR: path.join(tmp, "cache"), PATH: ambientDir };
    const paths = toolchainPaths(repo, env);
    expect(locatePulumiCli(paths, env)).toEqual({ cli: path.join(ambientDir, "pulumi"), pathDirs: [paths.nodejsHostBinDir] });
  });

  it("fails with a message that says to run `make toolchain` when there is no CLI", async () => {
    const repo = fakeRepo();
    const env = { MLOPS_CACHE_DIR: path.join(tmp, "cache"), PATH: path.join(tmp, "empty") };
    await expect(pulumiWorkspace(repo, env)).rejects.toThrow(ToolchainMissingError);
    await expect(pulumiWorkspace(repo, env)).rejects.toThrow(/no Pulumi CLI at .* and none on PATH: run `make toolchain`/);
  });

  it("builds the CLI environment: offline flags, PATH, state folder and passphrase", () => {
    const repo = fakeRepo();
    const vars = pulumiEnvVars(repo, ["/cli"], { MLOPS_CACHE_DIR: "/c", PATH: "/usr/bin" });
    expect(vars.PATH).toBe(`/cli:${repo}/node_modules/.bin:/usr/bin`);
    expect(vars).toMatchObject({
      PULUMI_HOME: "/c/pulumi-home",
      PULUMI_BACKEND_URL: `file://${repo}/.pulumi-state`,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_CONFIG_PASSPHRASE_FILE: `${repo}/.pulumi-state/passphrase`,
    });
    expect(fs.existsSync(`${repo}/.pulumi-state/passphrase`)).toBe(true);
  });
});
