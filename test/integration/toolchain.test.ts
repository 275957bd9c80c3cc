// The offline Pulumi toolchain built by scripts/toolchain.sh, exercised for real: the CLI binary, the
// kubernetes plugin through an Automation-API program, our nodejs language host through the plain CLI,
// and the SeaweedFS S3 server. Without a toolchain the tests are skipped with the reason printed; in CI
// a missing toolchain fails instead (test/support/skips.ts).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { locatePulumiCli, pulumiEnvVars, readToolchainVersions, toolchainPaths } from "../../driver/pulumiEnv";
import { renderKubernetesProbe } from "../../scripts/toolchain/verify/kubernetesRender";
import { runCli, writeProbeProject } from "../../scripts/toolchain/verify/languageHostProject";
import { randomPasswordProbe } from "../../scripts/toolchain/verify/randomPassword";
import { startSeaweedS3 } from "../../scripts/toolchain/verify/seaweedS3";
import { skipOrFailInCI } from "../support/skips";

const repoDir = path.resolve(__dirname, "../..");
const versions = readToolchainVersions(repoDir);
const paths = toolchainPaths(repoDir);

function locate(): { located?: { cli: string; pathDirs: string[] }; missing?: string } {
  try {
    return { located: locatePulumiCli(paths) };
  } catch (err) {
    return { missing: (err as Error).message };
  }
}
const { located, missing } = locate();
const skipToolchain = skipOrFailInCI("toolchain tests", missing);

const seaweedBin = path.join(paths.cacheDir, "seaweedfs", versions.SEAWEEDFS_VERSION, "weed");
const skipSeaweed = skipOrFailInCI("SeaweedFS test", fs.existsSync(seaweedBin) ? undefined : `no ${seaweedBin}; build it with \`bash scripts/toolchain.sh seaweedfs\``);

/** The located CLI; only called by tests that run, which is only when it was found. */
function requireCli(): { cli: string; pathDirs: string[] } {
  if (!located) throw new Error(`no Pulumi CLI: ${missing}`);
  return located;
}

/** Environment for CLI calls with a throwaway state backend (fixed passphrase: nothing real is stored). */
function cliEnv(stateDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { PULUMI_CONFIG_PASSPHRASE_FILE: _userFile, ...inherited } = process.env;
  const base = { ...inherited, PULUMI_BACKEND_URL: `file://${stateDir}`, PULUMI_CONFIG_PASSPHRASE: "toolchain-test" };
  return { ...base, ...pulumiEnvVars(repoDir, requireCli().pathDirs, base), ...extra };
}

describe.skipIf(skipToolchain)("Pulumi CLI and kubernetes plugin", () => {
  it("runs and reports the pinned version (or a compatible one from PATH)", () => {
    const { cli } = requireCli();
    const reported = execFileSync(cli, ["version"], { encoding: "utf8" }).trim();
    if (cli.startsWith(paths.pinnedCliBinDir)) expect(reported).toBe(`v${versions.PULUMI_CLI_VERSION}`);
    const [major, minor] = reported.replace(/^v/, "").split(".").map(Number);
    expect(major === 3 && minor >= 200).toBe(true);
  });

  it("has the kubernetes plugin installed at the version @pulumi/kubernetes requests", () => {
    const { cli } = requireCli();
    const sdkVersion = JSON.parse(fs.readFileSync(path.join(repoDir, "node_modules/@pulumi/kubernetes/package.json"), "utf8")).version;
    const listed = JSON.parse(execFileSync(cli, ["plugin", "ls", "--json"], { encoding: "utf8", env: cliEnv(os.tmpdir()) })) as {
      name: string;
      kind: string;
      version: string;
    }[];
    expect(listed.filter((p) => p.name === "kubernetes" && p.kind === "resource").map((p) => p.version)).toContain(sdkVersion);
  });

  it("renders a ConfigMap and a Deployment to YAML from an inline program (render mode, no cluster)", async () => {
    requireCli();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-render-"));
    try {
      const result = await renderKubernetesProbe(repoDir, workDir);
      expect(result.manifests.some((m) => m.startsWith("ConfigMap/probe-settings"))).toBe(true);
      expect(result.manifests.some((m) => m.startsWith("Deployment/probe"))).toBe(true);
      const deployment = result.files.find((f) => fs.readFileSync(path.join(workDir, "rendered", f), "utf8").includes("kind: Deployment"));
      expect(fs.readFileSync(path.join(workDir, "rendered", deployment ?? ""), "utf8")).toContain("image: probe:local");
      expect(result.pluginVersion).toBe(versions.KUBERNETES_PLUGIN_VERSION);
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});

// The Terraform-bridged plugins built from the source bundles (scripts/toolchain/bridged-plugins.sh).
const bridged = ["docker", "random", "postgresql"] as const;
const sdkPluginVersion = (name: string): string => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoDir, "node_modules/@pulumi", name, "package.json"), "utf8")) as { version: string; pulumi?: { version?: string } };
  return pkg.pulumi?.version ?? pkg.version;
};

describe.skipIf(skipToolchain)("docker, random and postgresql plugins", () => {
  it.each(bridged)("%s is installed at the version its npm SDK requests", (name) => {
    const { cli } = requireCli();
    const listed = JSON.parse(execFileSync(cli, ["plugin", "ls", "--json"], { encoding: "utf8", env: cliEnv(os.tmpdir()) })) as { name: string; kind: string; version: string }[];
    expect(listed.filter((p) => p.name === name && p.kind === "resource").map((p) => p.version)).toContain(sdkPluginVersion(name));
  });

  it.each(bridged)("%s answers: the plugin serves its schema at that version", (name) => {
    const { cli } = requireCli();
    const version = sdkPluginVersion(name);
    const schema = JSON.parse(execFileSync(cli, ["package", "get-schema", `${name}@${version}`], { encoding: "utf8", env: cliEnv(os.tmpdir()), maxBuffer: 64 * 1024 * 1024 })) as {
      name: string;
      version: string;
      resources: Record<string, unknown>;
    };
    expect(schema.name).toBe(name);
    expect(schema.version).toBe(version);
    expect(Object.keys(schema.resources).length).toBeGreaterThan(0);
  });

  it("random creates a RandomPassword from an inline program, keeps it on the next up, and stores it only encrypted", async () => {
    requireCli();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-random-"));
    try {
      const result = await randomPasswordProbe(repoDir, workDir);
      expect(result.password).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(result.secretOutput).toBe(true);
      expect(result.secondPassword).toBe(result.password);
      expect(result.secondRunChanges).toBe(0);
      expect(result.state).toContain("random:index/randomPassword:RandomPassword");
      expect(result.state).not.toContain(result.password);
      expect(result.pluginVersion).toBe(sdkPluginVersion("random"));
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skipToolchain)("nodejs language host through the plain CLI", () => {
  let projectDir = "";
  let env: NodeJS.ProcessEnv = {};
  const pulumi = (args: string[], extra: Record<string, string> = {}) =>
    runCli(requireCli().cli, [...args, "--non-interactive", "--color", "never"], projectDir, { ...env, ...extra });

  beforeAll(async () => {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-langhost-"));
    projectDir = path.join(workDir, "project");
    writeProbeProject(repoDir, projectDir);
    fs.mkdirSync(path.join(workDir, "state"));
    env = cliEnv(path.join(workDir, "state"));
    for (const args of [
      ["stack", "init", "probe"],
      ["config", "set", "text", "abcdef"],
      ["config", "set", "--secret", "token", "s3cr3t"],
    ]) {
      const result = await pulumi(args);
      if (result.code !== 0) throw new Error(`pulumi ${args.join(" ")} failed: ${result.output}`);
    }
  });

  afterAll(() => {
    if (projectDir) fs.rmSync(path.dirname(projectDir), { recursive: true, force: true });
  });

  it("`pulumi preview` runs the TypeScript program and plans the dynamic resource", async () => {
    const result = await pulumi(["preview"]);
    expect(result.output).toMatch(/\+\s+pulumi-nodejs:dynamic:Resource\s+probe\s+create/);
    expect(result.code).toBe(0);
    // Our host and the dynamic-provider plugin sit next to the pinned CLI: found as bundled, no PATH warning.
    if (requireCli().cli.startsWith(paths.pinnedCliBinDir)) expect(result.output).not.toContain("from $PATH");
  });

  it("`pulumi up` creates the resource and returns the stack outputs, secrets included", async () => {
    const up = await pulumi(["up", "--yes"]);
    expect(up.code, up.output).toBe(0);
    const outputs = await pulumi(["stack", "output", "--json", "--show-secrets"]);
    expect(JSON.parse(outputs.output)).toEqual({ length: 6, token: "s3cr3t" });
    const plain = await pulumi(["stack", "output", "--json"]);
    expect(plain.output).not.toContain("s3cr3t");
  });

  it("a program that throws makes the CLI fail with the program's error message", async () => {
    const result = await pulumi(["preview", "--config", "fail=true"]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("probe program failed on purpose");
  });

  it("`pulumi destroy` removes what `up` created", async () => {
    const destroy = await pulumi(["destroy", "--yes"]);
    expect(destroy.code, destroy.output).toBe(0);
    const stack = await pulumi(["stack", "--show-urns"]);
    expect(stack.output).not.toContain("pulumi-nodejs:dynamic:Resource");
  });
});

describe.skipIf(skipSeaweed)("SeaweedFS", () => {
  it("`weed version` reports and `weed server -s3` serves S3 on loopback", async () => {
    expect(execFileSync(seaweedBin, ["version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })).toMatch(/version/i);
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-weed-"));
    const s3 = await startSeaweedS3(seaweedBin, workDir);
    try {
      expect((await fetch(`${s3.endpoint}/probe-bucket`, { method: "PUT" })).status).toBe(200);
      const put = await fetch(`${s3.endpoint}/probe-bucket/hello.txt`, { method: "PUT", body: "hello from the toolchain test" });
      expect(put.status).toBe(200);
      const get = await fetch(`${s3.endpoint}/probe-bucket/hello.txt`);
      expect(await get.text()).toBe("hello from the toolchain test");
    } finally {
      await s3.stop();
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});
