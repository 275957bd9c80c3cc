import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig, trainingSchema } from "../../config";
import { planStudy } from "../../components/shared/study";

// The docker components over Pulumi mocks: which @pulumi/docker resources they declare, and how.
interface Captured {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}
const captured: Captured[] = [];

type DockerModule = typeof import("../../components/docker");
let docker: DockerModule;

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        captured.push({ type: args.type, name: args.name, inputs: args.inputs });
        const extra: Record<string, unknown> = {};
        if (args.type === "docker:index/container:Container") Object.assign(extra, { exitCode: 0, containerLogs: "trainer: boom\n" });
        if (args.type === "docker:index/remoteImage:RemoteImage") extra.imageId = `sha256:${String(args.inputs.name).length.toString(16).padStart(64, "0")}`;
        return { id: `${args.name}-id`, state: { ...args.inputs, ...extra } };
      },
      call: (args) => args.inputs,
    },
    "mlops-pipeline",
    "test",
    false,
  );
  docker = await import("../../components/docker");
});

const secretSignature = "4dabf18193072939515e22adb298388d";
/** Unwraps a secret input; fails when the value arrived in the clear. */
function unwrapSecret<T>(input: unknown): T {
  const wrapped = (input ?? {}) as Record<string, unknown>;
  expect(wrapped[secretSignature], "expected a secret input").toBeDefined();
  return wrapped.value as T;
}
const outputValue = <T>(out: pulumi.Output<T>) => new Promise<T>((resolve) => out.apply(resolve));
const of = (type: string, namePrefix: string) => captured.filter((c) => c.type === `docker:index/${type}` && c.name.startsWith(namePrefix));
const envMap = (envs: unknown) => Object.fromEntries((envs as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
const labelsOf = (c: Captured) => Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));

const devConfig = parseStackConfig(
  {
    "mlops:platform": "docker",
    "mlops:tracking": {
      database: { kind: "inStack", image: "local/postgres:bookworm-abc" },
      objectStore: { kind: "inStack", image: "local/seaweedfs:bookworm-def", bucket: "mlflow" },
    },
    "mlops:serving": { replicas: 3 },
    "mlops:images": { loadBalancer: "nginx:1.27.2", tag: "0.1.0" },
  },
  "Pulumi.dev.yaml",
);
const dev = {
  ...devConfig,
  tracking: {
    mlflowVersion: devConfig.tracking.mlflowVersion,
    port: devConfig.tracking.port,
    database: devConfig.tracking.database,
    objectStore: devConfig.tracking.objectStore,
    resources: devConfig.tracking.resources,
  },
};

async function settle(...outputs: pulumi.Output<unknown>[]): Promise<void> {
  await Promise.all(outputs.map((o) => outputValue(o)));
}

describe("DockerTrackingServer (mocked provider)", () => {
  it("declares one network, two volumes and PostgreSQL, SeaweedFS, bucket job and MLflow on it, with secrets only in secret env", async () => {
    const server = new docker.DockerTrackingServer("trk", {
      ...dev.tracking,
      images: dev.images,
      networkName: "mlops-dev",
      databasePassword: pulumi.secret("db-pass-123"),
      objectStoreCredentials: pulumi.secret({ accessKeyId: "AKIDTEST", secretAccessKey: "s3-secret-456" }),
    });
    const [driverUri, jobUri, artifacts] = await Promise.all([outputValue(server.driverTrackingUri), outputValue(server.jobTrackingUri), outputValue(server.artifactLocation)]);
    expect(driverUri).toBe("http://127.0.0.1:5000");
    expect(jobUri).toBe("http://mlflow:5000");
    expect(artifacts).toBe("s3://mlflow");

    const networks = of("network:Network", "trk");
    expect(networks.map((n) => n.inputs.name)).toEqual(["mlops-dev"]);
    expect(
      of("volume:Volume", "trk")
        .map((v) => v.inputs.name)
        .sort(),
    ).toEqual(["trk-objectstore-data", "trk-postgres-data"]);
    const containers = of("container:Container", "trk");
    expect(containers.map((c) => String(c.inputs.name)).sort()).toEqual(["trk-bucket-init", "trk-mlflow", "trk-objectstore", "trk-postgres"]);
    const images = of("remoteImage:RemoteImage", "trk").map((i) => String(i.inputs.name));
    expect(images.sort()).toEqual(["local/postgres:bookworm-abc", "local/seaweedfs:bookworm-def", "mlops-mlflow:0.1.0"]);
    for (const image of images) expect(image).not.toMatch(/:latest$|^[^:]+$/);
    for (const c of containers) {
      expect(c.inputs.networksAdvanced, c.name).toEqual([{ name: "mlops-dev", aliases: c.name === "trk-bucket-init" ? [] : [String(c.inputs.name).slice(4)] }]);
      const env = envMap(unwrapSecret(c.inputs.envs));
      expect(JSON.stringify(c.inputs.command ?? []), c.name).not.toMatch(/db-pass-123|s3-secret-456/);
      if (c.name === "trk-mlflow") {
        expect(env.PGPASSWORD).toBe("db-pass-123");
        expect(env.PGHOST).toBe("postgres");
        expect(env.MLFLOW_S3_ENDPOINT_URL).toBe("http://objectstore:8333");
        expect(env.AWS_SECRET_ACCESS_KEY).toBe("s3-secret-456");
        expect(c.inputs.command).toContain("--backend-store-uri=postgresql://mlflow@postgres:5432/mlflow");
        expect(c.inputs.ports).toEqual([{ internal: 5000, external: 5000, ip: "127.0.0.1" }]);
        expect(c.inputs.wait).toBe(true);
        expect(c.inputs.mustRun).toBe(true);
      }
      if (c.name === "trk-postgres") expect(env).toMatchObject({ POSTGRES_PASSWORD: "db-pass-123", POSTGRES_USER: "mlflow", POSTGRES_DB: "mlflow" });
      if (c.name === "trk-bucket-init") expect(c.inputs).toMatchObject({ attach: true, mustRun: false, logs: true });
    }
  });

  it("refuses storage the docker platform cannot run, saying what to change", () => {
    const base = { ...dev.tracking, images: dev.images, networkName: "n", databasePassword: "x", objectStoreCredentials: { accessKeyId: "a", secretAccessKey: "b" } };
    expect(() => new docker.DockerTrackingServer("bad1", { ...base, database: { kind: "sqlite", path: "x.db" } })).toThrow(
      /tracking.database.kind 'sqlite' is not supported on platform docker: use inStack or external/,
    );
    expect(() => new docker.DockerTrackingServer("bad2", { ...base, objectStore: { kind: "localFolder", path: "a" } })).toThrow(
      /tracking.objectStore.kind 'localFolder' is not supported on platform docker: use inStack or s3/,
    );
    expect(() => new docker.DockerTrackingServer("bad3", { ...base, databasePassword: undefined })).toThrow(/pulumi config set --secret mlops:databasePassword/);
    expect(() => new docker.DockerTrackingServer("Bad Name", base)).toThrow(/name 'Bad Name' must be/);
    // A mistake in a component's args belongs to that resource: the engine names it, with no stack trace.
    expect(() => new docker.DockerTrackingServer("bad4", { ...base, database: { kind: "sqlite", path: "x.db" } })).toThrow(pulumi.ResourceError);
  });
});

describe("DockerTrainingFanout (mocked provider)", () => {
  const training = trainingSchema.parse({ searchSpace: { n_estimators: { values: [10, 20, 30] } }, workers: 2, retries: 2 });
  const plan = planStudy("dev", training);

  it("runs a prepare container, then one attached, run-to-completion container per shard with its spec uploaded", async () => {
    const fanout = new docker.DockerTrainingFanout("trn", {
      shards: plan.shards,
      training,
      trackingUri: pulumi.output("http://mlflow:5000"),
      image: "mlops-trainer:0.1.0",
      networkName: "mlops-dev",
      trackingCredentials: { username: "admin", password: pulumi.secret("auth-pass-789") },
      rerunKey: "run-42",
    });
    expect(await outputValue(fanout.studyId)).toBe(plan.study.studyId);
    expect(await outputValue(fanout.workerCount)).toBe(2);
    const containers = of("container:Container", "trn");
    expect(containers.map((c) => c.inputs.name)).toEqual(["trn-prepare", "trn-trainer-0", "trn-trainer-1"]);
    for (const c of containers) {
      expect(c.inputs).toMatchObject({ mustRun: false, attach: true, logs: true, restart: "no", wait: false });
      const env = envMap(unwrapSecret(c.inputs.envs));
      expect(env).toMatchObject({ MLFLOW_TRACKING_URI: "http://mlflow:5000", MLFLOW_TRACKING_USERNAME: "admin", MLFLOW_TRACKING_PASSWORD: "auth-pass-789", MLOPS_RETRIES: "2" });
      const uploads = c.inputs.uploads as { file: string; content: string }[];
      expect(uploads).toHaveLength(1);
      const shard = JSON.parse(uploads[0]?.content ?? "{}") as { workerIndex: number; studyId: string };
      expect(uploads[0]?.file).toBe(`/etc/mlops/shard-${shard.workerIndex}.json`);
      expect(shard.studyId).toBe(plan.study.studyId);
      expect(c.inputs.networksAdvanced).toEqual([{ name: "mlops-dev", aliases: [] }]);
      expect(labelsOf(c)).toMatchObject({ "io.mlops-pipeline.study-id": plan.study.studyId, "io.mlops-pipeline.rerun-key": "run-42" });
    }
    expect(of("remoteImage:RemoteImage", "trn").map((i) => i.inputs.name)).toEqual(["mlops-trainer:0.1.0"]);
  });

  it("fails the deployment when a training container exits non-zero, with its log", () => {
    // checkedExitCode applies this to each job's exitCode; every later container's labels wait on it.
    const spec = { name: "trn-trainer-1" };
    expect(() => docker.jobOutcome(spec, 3, "line 1\nValueError: bad spec\n")).toThrow(
      /container trn-trainer-1 exited with code 3; last log lines:\nline 1\nValueError: bad spec$/,
    );
    expect(() => docker.jobOutcome(spec, 137, undefined)).toThrow(/exited with code 137/);
    expect(docker.jobOutcome(spec, 0, "ok")).toBe(0);
  });

  it("refuses an image given as an Output and more shards than workers", () => {
    expect(() => new docker.DockerTrainingFanout("x1", { shards: plan.shards, training, trackingUri: "u", image: pulumi.output("i:1"), networkName: "n" })).toThrow(
      /expected the image as a plain reference/,
    );
    expect(() => new docker.DockerTrainingFanout("x2", { shards: plan.shards, training: { ...training, workers: 1 }, trackingUri: "u", image: "i:1", networkName: "n" })).toThrow(
      /2 shards for 1 workers/,
    );
  });
});

describe("DockerModelServing (mocked provider)", () => {
  it("starts R health-checked replicas and nginx whose upstream lists every replica", async () => {
    const serving = new docker.DockerModelServing("srv", {
      modelUri: "models:/m@champion",
      serving: dev.serving,
      trackingUri: "http://mlflow:5000",
      images: dev.images,
      networkName: "mlops-dev",
      modelVersion: pulumi.output("7"),
    });
    expect(await outputValue(serving.endpoint)).toBe("http://127.0.0.1:8000");
    const containers = of("container:Container", "srv");
    expect(containers.map((c) => c.name)).toEqual(["srv-serving-0", "srv-serving-1", "srv-serving-2", "srv-loadbalancer"]);
    // Replicas are named by Pulumi (free names for a rolling replacement); the balancer keeps its fixed name.
    expect(containers.map((c) => c.inputs.name)).toEqual([undefined, undefined, undefined, "srv-loadbalancer"]);
    const replicas = containers.slice(0, 3);
    for (const [i, r] of replicas.entries()) {
      expect(r.inputs).toMatchObject({ mustRun: true, attach: false, wait: true, restart: "unless-stopped" });
      // As the provider reads them back (otherwise every `up` replaces the replica): no swap, "1.0" CPUs.
      expect(r.inputs).toMatchObject({ memory: 2048, memorySwap: 2048, cpus: "1.0" });
      expect((r.inputs.healthcheck as { tests: string[] }).tests.join(" ")).toContain("http://127.0.0.1:8080/ping");
      expect(envMap(r.inputs.envs)).toMatchObject({
        MODEL_URI: "models:/m@champion",
        MLFLOW_TRACKING_URI: "http://mlflow:5000",
        REPLICA_ID: `serving-${i}`,
        PORT: "8080",
        MODEL_VERSION: "7",
      });
      expect(r.inputs.networksAdvanced).toEqual([{ name: "mlops-dev", aliases: [`serving-${i}`] }]);
    }
    const lb = containers[3];
    const config = ((lb?.inputs.uploads ?? []) as { file: string; content: string }[])[0];
    expect(config?.file).toBe("/etc/nginx/conf.d/default.conf");
    expect(config?.content).toContain("include /tmp/mlops-upstreams.conf;");
    expect(config?.content).toContain("listen 8000;");
    expect(lb?.inputs.ports).toEqual([{ internal: 8000, external: 8000, ip: "127.0.0.1" }]);
    // nginx follows the replicas' addresses (re-resolved, graceful reload) instead of being replaced.
    const entrypoint = (lb?.inputs.entrypoints ?? []) as string[];
    expect(entrypoint.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(entrypoint[2]?.match(/server serving-\d+:8080/g)).toEqual(["server serving-0:8080", "server serving-1:8080", "server serving-2:8080"]);
    expect(entrypoint[2]).toContain("for target in serving-0:8080 serving-1:8080 serving-2:8080;");
    expect(entrypoint[2]).toContain("nginx -s reload");
    expect(envMap(lb?.inputs.envs)).toEqual({});
    expect(replicas.every((r) => r.inputs.destroyGraceSeconds === 10)).toBe(true);
    expect(Object.keys(labelsOf(lb as Captured)).some((k) => k.includes("model-version"))).toBe(false);
    const images = of("remoteImage:RemoteImage", "srv").map((i) => String(i.inputs.name));
    expect(images.sort()).toEqual(["mlops-serving:0.1.0", "nginx:1.27.2"]);
  });

  it("keeps the tracking password secret and out of the endpoint", async () => {
    const serving = new docker.DockerModelServing("srvauth", {
      modelUri: "models:/m@champion",
      serving: { ...dev.serving, replicas: 1 },
      trackingUri: "http://mlflow:5000",
      images: dev.images,
      networkName: "n",
      trackingCredentials: { username: "admin", password: pulumi.secret("auth-pass-789") },
    });
    await settle(serving.endpoint);
    expect(await outputValue(serving.endpoint)).not.toContain("auth-pass-789");
    const replica = of("container:Container", "srvauth-serving-0")[0];
    expect(envMap(unwrapSecret(replica?.inputs.envs)).MLFLOW_TRACKING_PASSWORD).toBe("auth-pass-789");
  });
});
