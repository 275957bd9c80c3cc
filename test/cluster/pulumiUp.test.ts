/**
 * `pulumi up -s <stack>` on index.ts (the whole pipeline in one stack) against the local cluster: the
 * real CLI and engine, a private copy of Pulumi.cluster.yaml on its own file backend, MLflow port and
 * Ingress host. What the driver does between its phases happens inside the graph here: the MLflow users
 * (MlflowAccessGrant) and the champion (ChampionAlias), both reaching MLflow through the tracking
 * server's `kubectl port-forward`. Then a second preview changes nothing, and `pulumi destroy` leaves
 * nothing of ours in the namespace.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { timedStep } from "../support/commands";
import { clusterAlreadyUp, clusterEnv, clusterScript, clusterScripts, clusterSuiteSkipped, ingressRequest, kubectlJson } from "../support/localCluster";
import { repoRoot, TestStack } from "../support/pipelineStack";
import { testPorts } from "../support/testPorts";

const stack = new TestStack("cluster-up");
const namespace = "mlops";
const ingressHost = "models-up.cluster.test";
const backend = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-cluster-up-state-"));
const alreadyUp = clusterAlreadyUp();
const skipped = clusterSuiteSkipped("pulumi up on the local cluster", alreadyUp);

function pulumi(args: string[]): { status: number; output: string } {
  const env = {
    ...process.env,
    ...clusterEnv,
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "cluster-test-only-passphrase",
    PULUMI_CONFIG_PASSPHRASE_FILE: "",
  };
  const res = spawnSync("bash", ["-c", 'source scripts/env.sh && exec pulumi "$@"', "bash", ...args], { cwd: repoRoot, env, encoding: "utf8", timeout: 1_200_000 });
  const output = `${res.stdout}${res.stderr}`;
  console.log(`--- pulumi ${args.join(" ")} (exit ${res.status}) ---\n${output.split("\n").slice(-30).join("\n")}`);
  return { status: res.status ?? -1, output };
}

const ours = () =>
  kubectlJson<{ items: { metadata: { name: string } }[] }>(namespace, [
    "get",
    "all,pvc,secret,configmap,ingress,networkpolicy,hpa,pdb",
    "-l",
    "app.kubernetes.io/part-of=mlops-pipeline",
  ])
    .items.map((i) => i.metadata.name)
    .filter((name) => name.startsWith(`${stack.name}-`));

describe.skipIf(skipped)("pulumi up -s <copy of Pulumi.cluster.yaml> on index.ts, on the local cluster", () => {
  const startedHere = !alreadyUp;

  beforeAll(async () => {
    if (startedHere) {
      const up = await timedStep("cluster up", () => clusterScript("up.sh"));
      expect(up.status, up.stderr).toBe(0);
    }
    const imported = spawnSync("bash", [path.join(clusterScripts, "import-images.sh")], { cwd: repoRoot, encoding: "utf8", timeout: 900_000 });
    expect(imported.status, imported.stderr).toBe(0);
  });

  afterAll(async () => {
    try {
      const destroyed = pulumi(["destroy", "-s", stack.name, "--yes", "--non-interactive", "--skip-preview"]);
      expect(destroyed.status, destroyed.output).toBe(0);
      expect(ours(), "pulumi destroy left these in the namespace").toEqual([]);
    } finally {
      fs.rmSync(stack.file, { force: true });
      fs.rmSync(backend, { recursive: true, force: true });
      if (startedHere) {
        const down = await timedStep("cluster down", () => clusterScript("down.sh"));
        expect(down.status, down.stderr).toBe(0);
      }
    }
  });

  it("creates tracking, the MLflow users, training, the champion alias and serving in one update; the Ingress serves the champion", async () => {
    stack.write(
      { tracking: { port: testPorts("test/cluster/pulumiUp.test.ts").mlflow }, serving: { ingress: { host: ingressHost, className: "traefik", address: "127.0.0.1:18480" } } },
      "test/cluster/pulumiUp.test.ts",
      "cluster",
    );
    expect(pulumi(["stack", "init", stack.name, "--non-interactive"]).status).toBe(0);
    const up = await timedStep("pulumi up", () => pulumi(["up", "-s", stack.name, "--yes", "--non-interactive", "--skip-preview"]));
    expect(up.status, up.output).toBe(0);
    expect(up.output).toMatch(/ChampionAlias/);
    expect(up.output).toMatch(/MlflowAccessGrant/);
    const outputs = pulumi(["stack", "output", "-s", stack.name, "--json"]);
    const values = JSON.parse(outputs.output.slice(outputs.output.indexOf("{"), outputs.output.lastIndexOf("}") + 1)) as Record<string, string | number>;
    expect(values.endpoint).toBe(`http://${ingressHost}`);
    expect(String(values.modelVersion)).toMatch(/^\d+$/);
    // serving.auth is on: the API key is in the Secret the stack made (never an output).
    const secrets = kubectlJson<{ items: { metadata: { name: string }; data?: Record<string, string> }[] }>(namespace, ["get", "secrets"]).items;
    const keySecret = secrets.find((s) => s.metadata.name.startsWith(`${stack.name}-serving-api-key`));
    const apiKey = Buffer.from(keySecret?.data?.["api-key"] ?? "", "base64").toString("utf8");
    expect(apiKey.length).toBeGreaterThanOrEqual(32);
    const served = await ingressRequest(ingressHost, "/version", { headers: { authorization: `Bearer ${apiKey}` } });
    expect(served.status, served.body).toBe(200);
    expect((JSON.parse(served.body) as { run_id: string }).run_id).toBe(values.championRunId);
    expect(served.replica).toMatch(new RegExp(`^${stack.name}-serving-server-`));
  });

  it("reports no changes on a second preview", () => {
    const preview = pulumi(["preview", "-s", stack.name, "--non-interactive", "--expect-no-changes"]);
    expect(preview.status, preview.output).toBe(0);
  });
});
