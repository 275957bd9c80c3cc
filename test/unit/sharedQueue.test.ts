import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { trainingTopology } from "../../components/docker/trainingSpecs";
import { localPaths } from "../../components/local/paths";
import type { PostgresDatabase } from "../../components/shared/optunaStorage";
import { planStudy } from "../../components/shared/study";
import { selectorMatches } from "../../components/kubernetes/validation/postureModel";
import { databaseSchema, loadStackConfig, trainingSchema } from "../../config";
import type { PhaseContext } from "../../programs/context";
import { installPulumiMocks, outputValue, type Registered, secretValue } from "./support/pulumiMocks";

/**
 * Docker workers pull trials from one Optuna study in the stack's PostgreSQL (database `optuna`):
 * identical pull-workers with the whole list, the URL in plain env, the role's password only as secret env.
 */

const root = `${__dirname}/../..`;
const resources = { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1", memoryLimit: "1Gi" };
const training = trainingSchema.parse({ searchSpace: { n_estimators: { values: [1, 2, 3, 4, 5] } }, workers: 3, retries: 1 });
const inStack: PostgresDatabase = { kind: "inStack", image: "postgres:16.4", database: "mlflow", user: "mlflow", storageSize: "1Gi" };
const external = databaseSchema.parse({ kind: "external", host: "db.example", port: 6432, database: "ml", user: "ml user", sslMode: "require" }) as PostgresDatabase;
const topology = (queue: "rdb" | "shard", queueDatabase?: PostgresDatabase) =>
  trainingTopology({
    prefix: "p",
    trainerImage: "mlops-trainer:1",
    trackingUri: "http://mlflow:5000",
    shards: planStudy("dev", training, { queue }).shards,
    retries: 0,
    resources,
    queueDatabase,
  });
const trialIndexes = (content: string | undefined) => (JSON.parse(content ?? "{}") as { trials: { index: number }[] }).trials.map((t) => t.index);

let registered: Registered[] = [];
let docker: typeof import("../../components/docker");
let trainingProgram: typeof import("../../programs/training");
let trackingPrograms: typeof import("../../programs/tracking");
let kubernetes: typeof import("../../components/kubernetes");

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    if (type === "docker:index/container:Container") return { state: { exitCode: 0, containerLogs: "" } };
    if (type === "random:index/randomPassword:RandomPassword") return { state: { result: "generated-password-0123456789" } };
    if (!type.startsWith("kubernetes:")) return {};
    const metadata = typeof inputs.metadata === "object" && inputs.metadata !== null ? inputs.metadata : {};
    // Auto-naming, except for an explicit name (the namespace).
    const explicit = (metadata as { name?: unknown }).name;
    return { state: { metadata: { ...metadata, name: typeof explicit === "string" ? explicit : `${name}-x` }, status: { succeeded: 3 } } };
  });
  docker = await import("../../components/docker");
  kubernetes = await import("../../components/kubernetes");
  trainingProgram = await import("../../programs/training");
  trackingPrograms = await import("../../programs/tracking");
});

describe("docker training spec on the shared queue", () => {
  it("runs W identical pull-workers, each holding the whole study, pointed at the optuna database", () => {
    const t = topology("rdb", inStack);
    expect(t.workers.map((w) => w.role)).toEqual(["trainer-0", "trainer-1", "trainer-2"]);
    for (const c of [t.prepare, ...t.workers]) {
      expect(trialIndexes(c.files[0]?.content)).toEqual([0, 1, 2, 3, 4]);
      expect(c.env).toMatchObject({ MLOPS_OPTUNA_STORAGE: "postgresql://mlflow@postgres:5432/optuna", MLOPS_OPTUNA_CREATE_FROM: "mlflow" });
      expect(c.secretEnv).toMatchObject({ PGPASSWORD: "databasePassword" });
    }
    // Only the spec file differs (its worker index); the command shape is the same.
    expect(new Set(t.workers.map((w) => w.command.slice(0, 4).join(" ")))).toEqual(new Set(["python /app/trainer.py run --spec"]));
  });

  it("uses an external server's host, port and sslmode and escapes the role", () => {
    const [worker] = topology("rdb", external).workers;
    expect(worker?.env.MLOPS_OPTUNA_STORAGE).toBe("postgresql://ml%20user@db.example:6432/optuna?sslmode=require");
    expect(worker?.env.MLOPS_OPTUNA_CREATE_FROM).toBe("ml");
  });

  it("refuses shards and database that do not go together", () => {
    expect(() => topology("rdb")).toThrow(/queue "rdb" need the stack's PostgreSQL/);
    expect(() => topology("shard", inStack)).toThrow(/queue "shard" cannot use the stack's PostgreSQL/);
    // Static shards stay as they were: each worker its own part, no queue env.
    const shards = topology("shard");
    expect(shards.workers.map((w) => trialIndexes(w.files[0]?.content))).toEqual([[0, 3], [1, 4], [2]]);
    expect(shards.workers[0]?.env.MLOPS_OPTUNA_STORAGE).toBeUndefined();
  });
});

describe("DockerTrainingFanout with queueDatabase (mocked provider)", () => {
  it("passes the role's password as secret env beside the plain URL", async () => {
    registered.splice(0);
    const plan = planStudy("dev", training, { queue: "rdb" });
    const fanout = new docker.DockerTrainingFanout("q", {
      shards: plan.shards,
      training,
      trackingUri: pulumi.output("http://mlflow:5000"),
      image: "mlops-trainer:0.1.0",
      networkName: "mlops-dev",
      queueDatabase: { database: inStack, password: pulumi.secret("db-pass-123") },
    });
    expect(await outputValue(fanout.workerCount)).toBe(3);
    const containers = registered.filter((r) => r.type === "docker:index/container:Container");
    expect(containers.map((c) => c.inputs.name)).toEqual(["q-prepare", "q-trainer-0", "q-trainer-1", "q-trainer-2"]);
    for (const c of containers) {
      const env = Object.fromEntries(secretValue<string[]>(c.inputs.envs).map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]));
      expect(env).toMatchObject({ PGPASSWORD: "db-pass-123", MLOPS_OPTUNA_STORAGE: "postgresql://mlflow@postgres:5432/optuna" });
      expect(JSON.stringify(c.inputs.uploads)).not.toContain("db-pass-123");
    }
  });
});

type EnvVar = { name: string; value?: string; valueFrom?: unknown };
type PodTemplate = { metadata: { labels: Record<string, string> }; spec: { containers: { env: EnvVar[] }[] } };
const jobTemplate = (job: Registered | undefined) => (job?.inputs.spec as { template: PodTemplate } | undefined)?.template;
const envOf = (template: PodTemplate | undefined) => Object.fromEntries((template?.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
/** The Service the kubernetes tracking phase reports for its in-stack PostgreSQL. */
const inStackAddress = { host: "prod-tracking-postgres-x.mlops.svc.cluster.local", port: 5432 };

describe("kubernetes Indexed Job on the shared queue (mocked provider)", () => {
  const args = (
    queueDatabase?: { database: PostgresDatabase; password: pulumi.Input<string>; address?: pulumi.Input<{ host: string; port: number }> },
    queue: "rdb" | "shard" = "rdb",
  ) => ({
    namespace: "mlops",
    shards: planStudy("prod", training, { queue }).shards,
    training,
    trackingUri: "http://mlflow.mlops.svc.cluster.local:5000",
    image: "registry.example.com/mlops-trainer:0.1.0",
    queueDatabase,
  });

  it("runs W completions that each hold the whole study, with the password by secretKeyRef from its own Secret", async () => {
    registered.splice(0);
    const fanout = new kubernetes.KubernetesTrainingFanout("kq", args({ database: external, password: pulumi.secret("db-pass-456") }));
    expect(await outputValue(fanout.workerCount)).toBe(3);
    const map = registered.find((r) => r.type === "kubernetes:core/v1:ConfigMap");
    const data = (map?.inputs.data ?? {}) as Record<string, string>;
    expect(Object.values(data).map(trialIndexes)).toEqual([
      [0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4],
    ]);
    const secret = registered.find((r) => r.type === "kubernetes:core/v1:Secret" && r.name === "kq-queue");
    expect(secretValue<Record<string, string>>(secret?.inputs.stringData)).toEqual({ "database-password": "db-pass-456" });
    const jobs = registered.filter((r) => r.type === "kubernetes:batch/v1:Job");
    expect(jobs.map((j) => j.name).sort()).toEqual(["kq-prepare", "kq-workers"]);
    for (const job of jobs) {
      expect(envOf(jobTemplate(job))).toMatchObject({
        MLOPS_OPTUNA_STORAGE: "postgresql://ml%20user@db.example:6432/optuna?sslmode=require",
        MLOPS_OPTUNA_CREATE_FROM: "ml",
        PGPASSWORD: { secretKeyRef: { name: "kq-queue-x", key: "database-password" } },
      });
      if (job.name === "kq-workers") expect((job.inputs.spec as { completions?: number }).completions).toBe(3);
    }
    expect(JSON.stringify(jobs.map((j) => j.inputs))).not.toContain("db-pass-456");
  });

  it("on the in-stack PostgreSQL: the storage URL names its Service, and the first pod creates database optuna as MLflow's role", async () => {
    registered.splice(0);
    const fanout = new kubernetes.KubernetesTrainingFanout("kin", args({ database: inStack, password: pulumi.secret("db-pass-789"), address: pulumi.output(inStackAddress) }));
    expect(await outputValue(fanout.workerCount)).toBe(3);
    const jobs = registered.filter((r) => r.type === "kubernetes:batch/v1:Job");
    expect(jobs.map((j) => j.name).sort()).toEqual(["kin-prepare", "kin-workers"]);
    for (const job of jobs) {
      expect(envOf(jobTemplate(job))).toMatchObject({
        // No password in the URL: libpq reads PGPASSWORD, which comes from the fan-out's Secret.
        MLOPS_OPTUNA_STORAGE: `postgresql://mlflow@${inStackAddress.host}:5432/optuna`,
        // What images/trainer/optunadb.py connects to for CREATE DATABASE optuna (the in-stack role is the
        // server's POSTGRES_USER, so it may); prepare runs it before any worker starts.
        MLOPS_OPTUNA_CREATE_FROM: "mlflow",
        PGPASSWORD: { secretKeyRef: { name: "kin-queue-x", key: "database-password" } },
      });
    }
    const prepare = jobs.find((j) => j.name === "kin-prepare");
    expect(jobTemplate(prepare)?.spec.containers[0]).toMatchObject({ args: ["prepare", "--spec", "/spec/shard-0.json"] });
    const sent = JSON.stringify(registered.filter((r) => r.type !== "kubernetes:core/v1:Secret").map((r) => r.inputs));
    expect(sent).not.toContain("db-pass-789");
  });

  it("refuses the in-stack PostgreSQL without its address, and mismatched shards", () => {
    expect(() => new kubernetes.KubernetesTrainingFanout("kq2", args({ database: inStack, password: "p" }))).toThrow(/needs its Service address \(queueDatabase.address/);
    expect(() => new kubernetes.KubernetesTrainingFanout("kq3", args(undefined))).toThrow(/queue "rdb" need the stack's PostgreSQL/);
    expect(() => new kubernetes.KubernetesTrainingFanout("kq4", args({ database: external, password: "p" }, "shard"))).toThrow(/queue "shard" cannot use/);
  });
});

describe("which queue each platform's workers share", () => {
  const ctx = (stack: string, secrets: PhaseContext["secrets"] = { databasePassword: pulumi.secret("pw") }): PhaseContext => ({
    stack,
    config: loadStackConfig(root, stack),
    paths: localPaths("/work/proj", stack),
    secrets,
  });

  it("local: the journal file; docker and kubernetes: the stack's PostgreSQL, on kubernetes in-stack through the reported Service", () => {
    expect(trainingProgram.trialQueueFor(ctx("local"))).toEqual({ queue: "journal" });
    const dev = trainingProgram.trialQueueFor(ctx("dev"));
    expect(dev.queue).toBe("rdb");
    expect(dev.queueDatabase?.database).toEqual(loadStackConfig(root, "dev").tracking.database);
    expect(dev.queueDatabase?.address).toBeUndefined();
    const prod = trainingProgram.trialQueueFor(ctx("prod"), inStackAddress);
    expect(prod).toMatchObject({ queue: "rdb", queueDatabase: { database: loadStackConfig(root, "prod").tracking.database, address: inStackAddress } });
    expect(() => trainingProgram.trialQueueFor(ctx("prod"))).toThrow(
      /tracking phase reported no jobDatabaseAddress: run the init phase again \(npm run pipeline -- --stack prod --phase init\)/,
    );
    expect(() => trainingProgram.trialQueueFor(ctx("dev", {}))).toThrow(/no database password reached the training program/);
    const prodCtx = ctx("prod");
    const onExternal = { ...prodCtx, config: { ...prodCtx.config, tracking: { ...prodCtx.config.tracking, database: external } } };
    expect(trainingProgram.trialQueueFor(onExternal)).toMatchObject({ queue: "rdb", queueDatabase: { database: external } });
  });
});

describe("kubernetes tracking and training phases together on the in-stack PostgreSQL (mocked provider)", () => {
  const prodCtx = (): PhaseContext => ({
    stack: "prod",
    config: loadStackConfig(root, "prod"),
    paths: localPaths("/work/proj", "prod"),
    secrets: {
      databasePassword: pulumi.secret("pg-secret-3141"),
      objectStoreCredentials: pulumi.secret({ accessKeyId: "access-key", secretAccessKey: "s3-secret-2718" }),
      authAdminPassword: pulumi.secret("admin-secret-1618"),
      secretDigestKey: pulumi.secret("digest-key-0123456789abcdef"),
      trainingUserPassword: pulumi.secret("train-secret-1414"),
      servingUserPassword: pulumi.secret("serve-secret-1732"),
    },
  });

  it("tracking reports the PostgreSQL Service; its NetworkPolicy admits the training pods on 5432; the Jobs read the password from a Secret", async () => {
    registered.splice(0);
    const ctx = prodCtx();
    const server = trackingPrograms.trackingProgram(ctx);
    const outputs = trackingPrograms.trackingOutputs(server);
    const address = await outputValue(outputs.jobDatabaseAddress as pulumi.Output<{ host: string; port: number }>);
    const postgresService = registered.find((r) => r.type === "kubernetes:core/v1:Service" && r.name.includes("postgres"));
    expect(address).toEqual({ host: `${postgresService?.name}-x.mlops.svc.cluster.local`, port: 5432 });

    const { fanout } = trainingProgram.trainingProgram(ctx, { jobTrackingUri: server.jobTrackingUri, jobDatabaseAddress: outputs.jobDatabaseAddress });
    await outputValue(fanout.workerCount);
    const jobs = registered.filter((r) => r.type === "kubernetes:batch/v1:Job" && r.name.startsWith("prod-training-"));
    expect(jobs.map((j) => j.name).sort()).toEqual(["prod-training-prepare", "prod-training-workers"]);
    for (const job of jobs) expect(envOf(jobTemplate(job)).MLOPS_OPTUNA_STORAGE).toBe(`postgresql://mlflow@${address.host}:5432/optuna`);

    // The policy that selects the PostgreSQL pods lets in MLflow and both training Jobs' pods, on 5432 only.
    const statefulSet = registered.find((r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name.includes("postgres"));
    const postgresPods = kubernetes.stringMap(kubernetes.get(statefulSet?.inputs, "spec.template.metadata.labels"));
    expect(Object.keys(postgresPods).length).toBeGreaterThan(0);
    const policies = registered.filter((r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy");
    const policy = policies.find((p) => selectorMatches(kubernetes.get(p.inputs, "spec.podSelector"), postgresPods));
    expect(kubernetes.get(policy?.inputs, "spec.ingress.0.ports")).toEqual([{ protocol: "TCP", port: 5432 }]);
    const peers = kubernetes.list(kubernetes.get(policy?.inputs, "spec.ingress.0.from"));
    for (const job of jobs) {
      const labels = jobTemplate(job)?.metadata.labels ?? {};
      expect(
        peers.some((peer) => selectorMatches(kubernetes.get(peer, "podSelector"), labels)),
        `${job.name} pods admitted`,
      ).toBe(true);
    }
    // Not every pod of the namespace: the model servers stay out.
    expect(peers.some((peer) => selectorMatches(kubernetes.get(peer, "podSelector"), { "app.kubernetes.io/name": "model-server" }))).toBe(false);

    // No password in any Job, ConfigMap, policy or output: only in Secrets, as secret values.
    const plain = JSON.stringify(registered.filter((r) => r.type !== "kubernetes:core/v1:Secret").map((r) => r.inputs));
    for (const password of ["pg-secret-3141", "train-secret-1414"]) expect(plain).not.toContain(password);
    const queueSecret = registered.find((r) => r.name === "prod-training-queue");
    expect(secretValue<Record<string, string>>(queueSecret?.inputs.stringData)).toEqual({ "database-password": "pg-secret-3141" });
    expect(JSON.stringify(address)).not.toContain("pg-secret");
  });
});
