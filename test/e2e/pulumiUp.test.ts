/**
 * `pulumi up -s <stack>` on the project itself (index.ts: the whole pipeline in one stack), with the
 * real CLI and our Node.js language host, then `pulumi destroy`. A private stack on its own ports
 * and its own file backend, so it never touches the driver's stacks.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolchainMissingReason } from "../support/prerequisites";
import { skipOrFailInCI } from "../support/skips";
import { assertStackPortsInBlock, testPorts } from "../support/testPorts";

const root = path.resolve(__dirname, "../..");
const stack = "e2e-up";
const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
const backend = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-up-state-"));
const ports = testPorts("test/e2e/pulumiUp.test.ts");

function pulumi(args: string[]): { status: number; output: string } {
  const env = { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "e2e-only-passphrase", PULUMI_CONFIG_PASSPHRASE_FILE: "" };
  const res = spawnSync("bash", ["-c", `source scripts/env.sh && pulumi ${args.map((a) => `'${a}'`).join(" ")}`], { cwd: root, env, encoding: "utf8", timeout: 900_000 });
  const output = `${res.stdout}${res.stderr}`;
  console.log(`--- pulumi ${args.join(" ")} (exit ${res.status}) ---\n${output.split("\n").slice(-25).join("\n")}`);
  return { status: res.status ?? -1, output };
}

const skipped = skipOrFailInCI("pulumi up e2e", toolchainMissingReason());

describe.skipIf(skipped)("pulumi up -s <stack> on the project (real CLI, language host, engine)", () => {
  beforeAll(() => {
    const local = parseYaml(fs.readFileSync(path.join(root, "Pulumi.local.yaml"), "utf8")) as { config: Record<string, Record<string, unknown>>; encryptionsalt?: string };
    delete local.encryptionsalt; // a user's `pulumi stack init local` salt belongs to their passphrase, not ours
    local.config["mlops:tracking"] = {
      ...(local.config["mlops:tracking"] ?? {}),
      port: ports.mlflow,
      database: { kind: "sqlite", path: `.pipeline/${stack}/mlflow.db` },
      objectStore: { kind: "localFolder", path: `.pipeline/${stack}/artifacts` },
    };
    local.config["mlops:serving"] = { ...(local.config["mlops:serving"] ?? {}), replicas: 1, port: ports.replica, loadBalancerPort: ports.lb };
    assertStackPortsInBlock(local.config, "test/e2e/pulumiUp.test.ts", stackFile);
    fs.writeFileSync(stackFile, `# written by test/e2e/pulumiUp.test.ts; removed after the test\n${toYaml(local)}`);
    expect(pulumi(["stack", "init", stack, "--non-interactive"]).status).toBe(0);
  });

  afterAll(() => {
    const destroyed = pulumi(["destroy", "-s", stack, "--yes", "--non-interactive", "--skip-preview"]);
    fs.rmSync(stackFile, { force: true });
    fs.rmSync(path.join(root, ".pipeline", stack), { recursive: true, force: true });
    fs.rmSync(backend, { recursive: true, force: true });
    expect(destroyed.status).toBe(0);
  });

  it("creates tracking, training, the champion alias and serving in one update, and serves", async () => {
    const up = pulumi(["up", "-s", stack, "--yes", "--non-interactive", "--skip-preview"]);
    expect(up.status, up.output).toBe(0);
    expect(up.output).toMatch(/ChampionAlias/);
    const outputs = pulumi(["stack", "output", "-s", stack, "--json"]);
    const values = JSON.parse(outputs.output.slice(outputs.output.indexOf("{"), outputs.output.lastIndexOf("}") + 1)) as Record<string, string | number>;
    expect(values.endpoint).toBe(`http://127.0.0.1:${ports.lb}`);
    expect(String(values.modelVersion)).toMatch(/^\d+$/);
    const example = await (await fetch(`${values.endpoint}/example`)).json();
    const res = await fetch(`${values.endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(example) });
    expect(res.status).toBe(200);
    const served = (await (await fetch(`${values.endpoint}/version`)).json()) as { run_id: string };
    expect(served.run_id).toBe(values.championRunId);
  });

  it("reports no changes on a second update", () => {
    const preview = pulumi(["preview", "-s", stack, "--non-interactive", "--expect-no-changes"]);
    expect(preview.status, preview.output).toBe(0);
  });
});
