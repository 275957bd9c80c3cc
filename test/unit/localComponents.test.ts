import * as pulumi from "@pulumi/pulumi";
import { installPulumiMocks, outputValue, type Registered, secretValue } from "./support/pulumiMocks";
import { beforeAll, describe, expect, it } from "vitest";
import { deriveFlaskSecretKey, sqliteAuthDatabaseUri } from "../../components/shared/mlflowAuth";
import { validateShards } from "../../components/shared/sharding";
import type { ShardSpec } from "../../components/shared/studySpec";
import { parseStackConfig } from "../../config";

type Captured = Registered;
let captured: Registered[] = [];

type LocalModule = typeof import("../../components/local");
let local: LocalModule;

beforeAll(async () => {
  captured = await installPulumiMocks(() => ({ state: { pid: 4242, attempts: 1, seconds: 1 } }));
  local = await import("../../components/local");
});

const byType = (suffix: string) => captured.filter((c) => c.type.endsWith(suffix));
function named(list: Captured[], name: string): Captured {
  const found = list.find((c) => c.name === name);
  if (!found) throw new Error(`no resource named ${name}; have ${list.map((c) => c.name).join(", ")}`);
  return found;
}
const paths = () => local.localPaths("/work/proj", "test");

function shard(workerIndex: number, workers: number, trials: number[]): ShardSpec {
  return {
    schemaVersion: 1,
    studyId: "local-abc",
    experimentName: "e",
    estimator: "random_forest",
    task: "classification",
    scoring: "f1_macro",
    cvFolds: 3,
    testSize: 0.2,
    seed: 1,
    dataset: { source: "generated", target: "target", generate: { rows: 100, features: 4, informative: 2, classes: 2, seed: 1 } },
    totalTrials: 4,
    workerIndex,
    workers,
    trials: trials.map((index) => ({ index, key: `k${index}`, params: { n_estimators: 10 + index } })),
  };
}

describe("local platform components (Pulumi mocks)", () => {
  it("plans MLflow with SQLite and a local artifact folder by default, no secrets on the command line", () => {
    const cfg = parseStackConfig({ "mlops:platform": "local" }, "Pulumi.local.yaml");
    const plan = local.planTrackingServer({ port: 5000, database: cfg.tracking.database, objectStore: cfg.tracking.objectStore, paths: paths(), auth: false });
    expect(plan.command).toContain("--serve-artifacts");
    expect(plan.command.join(" ")).toContain("sqlite:////work/proj/.pipeline/mlflow/mlflow.db");
    expect(plan.artifactLocation).toBe("file:///work/proj/.pipeline/mlflow/artifacts");
    expect(plan.command).not.toContain("--app-name");
  });

  it("puts an external PostgreSQL password only in secret env, URL-encoded", async () => {
    const cfg = parseStackConfig(
      {
        "mlops:platform": "local",
        "mlops:tracking": {
          database: { kind: "external", host: "db.internal", user: "ml flow" },
          objectStore: { kind: "s3", bucket: "mlflow-art", endpoint: "http://127.0.0.1:8333" },
          auth: { enabled: true },
        },
      },
      "Pulumi.local.yaml",
    );
    captured.splice(0);
    const server = new local.LocalTrackingServer("t", {
      mlflowVersion: "3.6.0",
      port: 5055,
      database: cfg.tracking.database,
      objectStore: cfg.tracking.objectStore,
      resources: cfg.tracking.resources,
      images: cfg.images,
      databasePassword: pulumi.secret("p@ss/word"),
      objectStoreCredentials: pulumi.secret({ accessKeyId: "AK", secretAccessKey: "SK" }),
      auth: { adminUser: "admin", adminPassword: pulumi.secret("admin-pw-100%-long") },
      paths: paths(),
    });
    expect(await outputValue(server.driverTrackingUri)).toBe("http://127.0.0.1:5055");
    expect(await outputValue(server.artifactLocation)).toBe("s3://mlflow-art/mlflow");
    const proc = named(byType("local:Process"), "t-mlflow");
    const command = (proc.inputs.command as string[]).join(" ");
    expect(command).not.toContain("p@ss");
    expect(command).toContain("--app-name basic-auth");
    const env = proc.inputs.env as Record<string, string>;
    expect(env.MLFLOW_S3_ENDPOINT_URL).toBe("http://127.0.0.1:8333");
    expect(JSON.stringify(env)).not.toContain("SK");
    const secretEnv = secretValue<Record<string, string>>(proc.inputs.secretEnv);
    expect(secretEnv.MLFLOW_BACKEND_STORE_URI).toBe("postgresql://ml%20flow:p%40ss%2Fword@db.internal:5432/mlflow?sslmode=prefer");
    expect(secretEnv.AWS_SECRET_ACCESS_KEY).toBe("SK");
    const files = secretValue<{ path: string; content: string; mode: number }[]>(proc.inputs.files);
    expect(files[0]?.mode).toBe(0o600);
    // The shared rules: '%' escaped for configparser, a users database per admin password, a derived CSRF key.
    expect(files[0]?.content).toContain("admin_password = admin-pw-100%%-long\n");
    expect(files[0]?.content).toContain(`database_uri = ${sqliteAuthDatabaseUri(paths().runDir, "admin-pw-100%-long")}\n`);
    expect(secretEnv.MLFLOW_FLASK_SERVER_SECRET_KEY).toBe(deriveFlaskSecretKey("admin-pw-100%-long"));
  });

  it("refuses an in-stack database on the local platform with a message saying what to use", () => {
    const cfg = parseStackConfig({ "mlops:platform": "local" }, "Pulumi.local.yaml");
    expect(
      () =>
        new local.LocalTrackingServer("bad", {
          mlflowVersion: "3.6.0",
          port: 5000,
          database: { kind: "inStack", image: "postgres:16", database: "m", user: "m", storageSize: "1Gi" },
          objectStore: cfg.tracking.objectStore,
          resources: cfg.tracking.resources,
          images: cfg.images,
          paths: paths(),
        }),
    ).toThrow(/use sqlite or external/);
  });

  it("runs one prepare job then one worker job per shard, each with its own spec file and the tracking URI", async () => {
    captured.splice(0);
    const fanout = new local.LocalTrainingFanout("tr", {
      shards: [shard(0, 2, [0, 2]), shard(1, 2, [1, 3])],
      training: { workers: 2, retries: 1, resources: { cpuRequest: "1", memoryRequest: "1Gi", cpuLimit: "1", memoryLimit: "1Gi" } },
      trackingUri: "http://127.0.0.1:5000",
      paths: paths(),
    });
    expect(await outputValue(fanout.studyId)).toBe("local-abc");
    expect(await outputValue(fanout.workerCount)).toBe(2);
    const jobs = byType("local:Job");
    expect(jobs.map((j) => j.name).sort()).toEqual(["tr-prepare", "tr-worker-0", "tr-worker-1"]);
    const worker1 = named(jobs, "tr-worker-1");
    expect((worker1.inputs.command as string[]).slice(-3)).toEqual(["run", "--spec", "/work/proj/.pipeline/studies/local-abc/shard-1.json"]);
    expect((worker1.inputs.env as Record<string, string>).MLFLOW_TRACKING_URI).toBe("http://127.0.0.1:5000");
    const file = (worker1.inputs.files as { content: string }[])[0];
    expect(JSON.parse(file?.content ?? "{}").trials.map((t: { index: number }) => t.index)).toEqual([1, 3]);
    expect(worker1.inputs.retries).toBe(1);
  });

  it("rejects more shards than workers (the rule every platform shares)", () => {
    expect(() => validateShards([shard(0, 1, [0]), shard(1, 1, [1])], 1)).toThrow(/must not outnumber training.workers/);
    expect(() => validateShards([], 2)).toThrow(/no trials/);
    expect(() => validateShards([shard(0, 2, [0]), { ...shard(1, 2, [1]), studyId: "other" }], 2)).toThrow(/shards of different studies/);
  });

  it("serves R replicas on consecutive ports behind one load balancer, restarted when the model version changes", async () => {
    captured.splice(0);
    const cfg = parseStackConfig({ "mlops:platform": "local", "mlops:serving": { replicas: 3, port: 9100, loadBalancerPort: 9000 } }, "Pulumi.local.yaml");
    const serving = new local.LocalModelServing("sv", {
      modelUri: "models:/m@champion",
      modelVersion: "7",
      serving: cfg.serving,
      trackingUri: "http://127.0.0.1:5000",
      images: cfg.images,
      paths: paths(),
      nodeBinary: "/usr/bin/node",
    });
    expect(await outputValue(serving.endpoint)).toBe("http://127.0.0.1:9000");
    const procs = byType("local:Process");
    const replicas = procs.filter((p) => p.name.startsWith("sv-replica-"));
    expect(replicas.map((r) => (r.inputs.env as Record<string, string>).PORT)).toEqual(["9100", "9101", "9102"]);
    expect(replicas.every((r) => r.inputs.restartTrigger === "model-version=7")).toBe(true);
    expect(replicas.every((r) => (r.inputs.env as Record<string, string>).MODEL_URI === "models:/m@champion")).toBe(true);
    const lb = named(procs, "sv-lb");
    expect((lb.inputs.command as string[]).filter((a) => a.startsWith("http://"))).toEqual(["http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"]);
    // Every process runs under keepAlive.ts, which restarts it when it dies.
    for (const p of [...replicas, lb])
      expect((p.inputs.command as string[]).slice(0, 5)).toEqual(["/usr/bin/node", "--import", "tsx", "/work/proj/components/local/keepAlive.ts", "--"]);
    expect(replicas.every((r) => (r.inputs.env as Record<string, string>).SERVING_WORKERS === "1")).toBe(true);
    expect(replicas.some((r) => "SERVING_API_KEY_FILE" in (r.inputs.env as Record<string, string>))).toBe(false);
  });

  it("hands the API key to every replica as a 0600 file under .pipeline/run (never in env or argv), and SERVING_WORKERS", async () => {
    captured.splice(0);
    const cfg = parseStackConfig({ "mlops:platform": "local", "mlops:serving": { replicas: 2, port: 9200, loadBalancerPort: 9001, auth: true, workers: 3 } }, "Pulumi.local.yaml");
    new local.LocalModelServing("sa", {
      modelUri: "models:/m@champion",
      modelVersion: "1",
      serving: cfg.serving,
      trackingUri: "http://127.0.0.1:5000",
      images: cfg.images,
      paths: paths(),
      apiKey: pulumi.secret("k3y-not-in-the-clear"),
      workers: 3,
    });
    await new Promise((r) => setTimeout(r, 50));
    const replicas = byType("local:Process").filter((p) => p.name.startsWith("sa-replica-"));
    expect(replicas).toHaveLength(2);
    for (const r of replicas) {
      const env = r.inputs.env as Record<string, string>;
      expect(env.SERVING_API_KEY_FILE).toBe("/work/proj/.pipeline/run/test/serving-api-key");
      expect(env.SERVING_WORKERS).toBe("3");
      expect(JSON.stringify([env, r.inputs.command])).not.toContain("k3y-not-in-the-clear");
      const files = (await secretValue(r.inputs.files as never)) as { path: string; content: string; mode: number }[];
      expect(files).toEqual([{ path: "/work/proj/.pipeline/run/test/serving-api-key", content: "k3y-not-in-the-clear", mode: 0o600 }]);
    }
  });

  it("refuses a load-balancer port inside the replica range", () => {
    expect(() => local.replicaPorts(8080, 3, 8081)).toThrow(/collides with the replica ports 8080..8082/);
  });
});
