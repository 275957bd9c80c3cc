/**
 * A new champion rolls through the local replicas without dropping a request, with inference auth on:
 * `make pipeline` deploys the first champion on a private stack (2 replicas, `serving.auth: true`);
 * then, while a bounded load loop (>= 200 requests) runs through the load balancer, `npm run pipeline
 * -- --phase deploy` selects a different run (a metrics config ordering the other way) and rolls
 * the replicas one at a time. Everything real: the Pulumi engine, MLflow, the model servers, the
 * balancer, sockets on 127.0.0.1.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsConfigPath } from "../../config";
import { metric, MlflowRest, type MlflowRun } from "../support/mlflowRest";
import { repoRoot as root, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { rolloutProblems, runRolloutLoad } from "../support/rolloutLoad";
import { CommandLineSampler, filesContaining } from "../support/secretScan";
import { testPorts } from "../support/testPorts";

const stack = new TestStack("e2e-rolling");
const ports = testPorts("test/e2e/rollingChampion.test.ts");
const endpoint = `http://127.0.0.1:${ports.lb}`;
const mlflow = new MlflowRest(`http://127.0.0.1:${ports.mlflow}`);
const canRun = canRunPipelineSuite("rollingChampion e2e", { services: false });

const keyFile = () => path.join(stack.runDir, "serving-api-key");
const apiKey = () => fs.readFileSync(keyFile(), "utf8").trim();
const auth = () => ({ authorization: `Bearer ${apiKey()}` });

interface Served {
  readonly version: string;
  readonly replica: string;
}

async function servedVersion(port: number): Promise<Served> {
  const res = await fetch(`http://127.0.0.1:${port}/version`, { headers: auth(), signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`/version on ${port}: HTTP ${res.status}`);
  const body = (await res.json()) as { version: string };
  return { version: String(body.version), replica: res.headers.get("x-replica-id") ?? "?" };
}

describe.skipIf(!canRun)("rolling champion change on local, under load, with serving.auth", () => {
  beforeAll(async () => {
    stack.write(
      {
        tracking: {
          port: ports.mlflow,
          database: { kind: "sqlite", path: ".pipeline/e2e-rolling/mlflow.db" },
          objectStore: { kind: "localFolder", path: ".pipeline/e2e-rolling/artifacts" },
        },
        serving: { port: ports.replica, loadBalancerPort: ports.lb, replicas: 2, auth: true },
      },
      "test/e2e/rollingChampion.test.ts",
    );
    await stack.make("mlflow-remove");
  });

  afterAll(async () => {
    const removed = await stack.remove();
    expect(removed.status).toBe(0);
  });

  it("deploys the first champion behind an API key: 401 without it, 200 with it, /ping open", async () => {
    // Every command line on the machine, sampled while the pipeline, its workers, the replicas and inference-one run.
    const commandLines = CommandLineSampler.start();
    const run = await stack.make("pipeline");
    expect(run.status, run.output).toBe(0);
    expect(run.output).toMatch(/\[smoke\] POST .*HTTP 200/);
    expect(fs.statSync(keyFile()).mode & 0o777).toBe(0o600);
    const key = apiKey();
    expect(key.length).toBeGreaterThanOrEqual(32);
    for (const [method, p] of [
      ["POST", "/invocations"],
      ["GET", "/example"],
      ["GET", "/version"],
    ] as const) {
      const res = await fetch(`${endpoint}${p}`, { method, headers: { "content-type": "application/json" }, ...(method === "POST" ? { body: "{}" } : {}) });
      expect(res.status, `${method} ${p} without a key`).toBe(401);
      const wrong = await fetch(`${endpoint}${p}`, {
        method,
        headers: { "content-type": "application/json", authorization: "Bearer wrong-key-0123456789" },
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      expect(wrong.status, `${method} ${p} with a wrong key`).toBe(401);
    }
    expect((await fetch(`${endpoint}/ping`)).status).toBe(200);
    expect((await fetch(`${endpoint}/health`)).status).toBe(200);
    const example = await (await fetch(`${endpoint}/example`, { headers: auth() })).json();
    const ok = await fetch(`${endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json", ...auth() }, body: JSON.stringify(example) });
    expect(ok.status).toBe(200);
    // `make inference-one` reads the key from the deploy stack's secret output.
    const one = await stack.make("inference-one");
    expect(one.status, one.output).toBe(0);
    expect(one.output).toMatch(/"status":200/);
    // Never in plain text: logs, Pulumi state, any command line.
    expect(filesContaining(key, [path.join(root, ".pulumi-state"), stack.logDir, stack.runRecordFile])).toEqual([]);
    await commandLines.stop();
    console.log(`[rolling] secret scan: ${commandLines.summary()}`);
    expect(await commandLines.containing(key)).toEqual([]);
    expect(run.output + one.output).not.toContain(key);
  });

  it("rolls a new champion through the replicas one at a time: 0 failed of >= 200 requests, every replica on the new version", async () => {
    const metrics = parseYaml(fs.readFileSync(metricsConfigPath(root), "utf8")) as {
      orderBy: { metric: string; direction: string };
      registeredModel: { name: string; alias: string };
    };
    const before = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
    // The best run of the same study below the champion's order metric (an ordering worst-first is refused
    // by the config check): the select phase picks another run, a new model version.
    const { run: championRun } = await mlflow.call<{ run: MlflowRun }>(`runs/get?run_id=${before.run_id}`);
    const championMean = metric(championRun, metrics.orderBy.metric);
    expect(championMean, `the champion's ${metrics.orderBy.metric}`).toBeDefined();
    const reversed = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mlops-rolling-")), "metrics_config.yaml");
    fs.writeFileSync(
      reversed,
      toYaml({ ...metrics, filters: { metrics: [{ metric: metrics.orderBy.metric, op: "<", value: championMean }], params: [] }, thresholds: {}, tieBreakers: [] }),
    );

    const example = JSON.stringify(await (await fetch(`${endpoint}/example`, { headers: auth() })).json());
    const headers = { "content-type": "application/json", ...auth() };
    // Four clients through the balancer; counted only while the new version rolls out (test/support/rolloutLoad.ts).
    const replicaPorts = [ports.replica, ports.replica + 1];
    const commandLines = CommandLineSampler.start();
    const load = await runRolloutLoad({
      label: "rolling",
      startDeploy: () => stack.startDriver(["--phase", "deploy"], { MLOPS_METRICS_CONFIG: reversed }),
      send: async () => {
        const res = await fetch(`${endpoint}/invocations`, { method: "POST", headers, body: example, signal: AbortSignal.timeout(30_000) });
        const text = await res.text();
        return res.status === 200 ? undefined : `HTTP ${res.status}: ${text.slice(0, 200)}`;
      },
      // Each replica asked directly: one restarting answers nothing, so the rollout is not over yet.
      servedVersions: async () => Promise.all(replicaPorts.map((port) => servedVersion(port))),
      replicas: replicaPorts.length,
      maxSeconds: 600,
    });
    expect(load.deploy.status, load.deploy.output).toBe(0);
    // Both replicas restarting at once would leave the balancer no ready replica (503): zero failures
    // means one was always serving while the other drained and loaded the new model.
    expect(rolloutProblems(load)).toEqual([]);
    // The new replicas got the API key through their environment, not their command lines.
    await commandLines.stop();
    expect(await commandLines.containing(apiKey())).toEqual([]);

    const after = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias);
    expect(after.version).not.toBe(before.version);
    expect(load.target).toBe(after.version);
    // Each replica, asked directly, serves the new version; through the balancer, both answer it.
    for (const port of [ports.replica, ports.replica + 1]) expect((await servedVersion(port)).version).toBe(after.version);
    const throughBalancer = await Promise.all(Array.from({ length: 8 }, () => servedVersion(ports.lb)));
    expect(new Set(throughBalancer.map((s) => s.replica)).size).toBe(2);
    expect(throughBalancer.every((s) => s.version === after.version)).toBe(true);
  });
});
