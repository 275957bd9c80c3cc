import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { installPulumiMocks, isRpcSecret, outputValue as value, type Registered } from "./support/pulumiMocks";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { databaseSchema, imagesSchema, objectStoreSchema, resourcesSchema, servingSchema, trainingSchema } from "../../config";
import type * as K8sComponents from "../../components/kubernetes";
import { buildShardSpecs, deriveFlaskSecretKey, postgresReadyCommand, rolePasswordSync, type ShardSpec } from "../../components/shared";

/**
 * The Kubernetes components against Pulumi's mock monitor: what they would ask the provider to create,
 * with Kubernetes auto-naming imitated so cross references resolve like in a real deployment.
 */

let registered: Registered[] = [];
let k8s: typeof K8sComponents;

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    const state: Record<string, unknown> = {};
    // Kubernetes auto-naming, imitated so cross references resolve as in a real deployment.
    if (type.startsWith("kubernetes:")) {
      const metadata = typeof inputs.metadata === "object" && inputs.metadata !== null ? inputs.metadata : {};
      state.metadata = { ...metadata, name: `${name}-a1b2c3d` };
    }
    // A finished Indexed Job reports its succeeded completions.
    if (type === "kubernetes:batch/v1:Job") state.status = { succeeded: k8s.get(inputs, "spec.completions") ?? 1 };
    return { state };
  });
  k8s = await import("../../components/kubernetes");
});

beforeEach(() => {
  registered.splice(0);
});

/** Waits until the component has registered all its children (their registration is asynchronous). */
async function settle(): Promise<void> {
  let stableRounds = 0;
  let count = -1;
  while (stableRounds < 5) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    stableRounds = registered.length === count ? stableRounds + 1 : 0;
    count = registered.length;
  }
}

const ofType = (suffix: string) => registered.filter((r) => r.type === `kubernetes:${suffix}`);
const one = (suffix: string) => {
  const found = ofType(suffix);
  expect(found, `exactly one ${suffix}`).toHaveLength(1);
  return found[0]?.inputs ?? {};
};
const countsByType = () => {
  const counts: Record<string, number> = {};
  for (const r of registered) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
};
const generatedName = (pulumiName: string) => `${pulumiName}-a1b2c3d`;

/** Manifests as the engine would render them: inputs plus the generated name. */
const renderedManifests = () =>
  registered
    .filter((r) => r.type.startsWith("kubernetes:") && !r.type.endsWith(":Secret"))
    .map((r) => ({ ...r.inputs, metadata: { ...(k8s.asFields(r.inputs.metadata) ?? {}), name: generatedName(r.name) } }));

function envOf(container: unknown): Record<string, unknown> {
  return Object.fromEntries(k8s.list(k8s.get(container, "env")).map((e) => [String(k8s.get(e, "name")), k8s.get(e, "value") ?? k8s.get(e, "valueFrom")]));
}

/** Every container image of every captured workload. */
const allImages = () =>
  registered.flatMap((r) => {
    const spec = k8s.get(r.inputs, "spec.template.spec");
    return [...k8s.list(k8s.get(spec, "initContainers")), ...k8s.list(k8s.get(spec, "containers"))].map((c) => String(k8s.get(c, "image")));
  });

function expectStandardLabels(instance: string) {
  for (const r of registered.filter((x) => x.type.startsWith("kubernetes:"))) {
    const labels = k8s.stringMap(k8s.get(r.inputs, "metadata.labels"));
    expect(labels, `${r.type} ${r.name}`).toMatchObject({
      "app.kubernetes.io/instance": instance,
      "app.kubernetes.io/part-of": "mlops-pipeline",
      "app.kubernetes.io/managed-by": "pulumi",
    });
    expect(labels["app.kubernetes.io/name"]).toBeTruthy();
    expect(labels["app.kubernetes.io/component"]).toBeTruthy();
  }
}

const resources = resourcesSchema.parse({});
const images = imagesSchema.parse({ registry: "registry.example.com/mlops", tag: "0.1.0" });
const dbPassword = "db-pass-7f3a9c";
const s3Secret = "s3-secret-91bd44";
const adminPassword = "admin-pass-5e2c10";
const digestKey = "digest-key-0c1f5a77e2b94d18";

function trackingArgs(overrides: Partial<K8sComponents.KubernetesTrackingServerArgs> = {}): K8sComponents.KubernetesTrackingServerArgs {
  return {
    namespace: "mlops",
    mlflowVersion: "3.6.0",
    port: 5000,
    database: databaseSchema.parse({ kind: "inStack" }),
    objectStore: objectStoreSchema.parse({ kind: "inStack", image: "minio/minio:RELEASE.2025-04-22T22-12-26Z" }),
    resources,
    images,
    databasePassword: pulumi.secret(dbPassword),
    objectStoreCredentials: pulumi.secret({ accessKeyId: "mlflow-access", secretAccessKey: s3Secret }),
    auth: { adminUser: "admin", adminPassword: pulumi.secret(adminPassword) },
    secretDigestKey: pulumi.secret(digestKey),
    ...overrides,
  };
}

describe("KubernetesTrackingServer (mocked provider)", () => {
  it("creates the stores as StatefulSets, MLflow as a Deployment, and wires them through Services and one Secret", async () => {
    const server = new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs());
    const jobUri = await value(server.jobTrackingUri);
    await settle();
    expect(countsByType()).toEqual({
      "mlops:kubernetes:TrackingServer": 1,
      // One sub-component per concern, each handing its connection on as an Output.
      "mlops:kubernetes:InStackPostgres": 1,
      "mlops:kubernetes:InStackObjectStore": 1,
      "mlops:kubernetes:MlflowServer": 1,
      "kubernetes:core/v1:Service": 3,
      "kubernetes:core/v1:Secret": 1,
      "kubernetes:apps/v1:StatefulSet": 2,
      "kubernetes:networking.k8s.io/v1:NetworkPolicy": 2,
      "kubernetes:batch/v1:Job": 1,
      "kubernetes:apps/v1:Deployment": 1,
    });
    const mlflowService = generatedName("prod-tracking-mlflow");
    expect(jobUri).toBe(`http://${mlflowService}.mlops.svc.cluster.local:5000`);
    expect(await value(server.driverTrackingUri)).toBe("http://127.0.0.1:5000");
    expect(await value(server.portForwardCommand)).toBe(`kubectl -n mlops port-forward svc/${mlflowService} 5000:5000`);
    expect(await value(server.artifactLocation)).toBe("s3://mlflow/mlflow");

    const postgres = ofType("apps/v1:StatefulSet").find((s) => s.name === "prod-tracking-postgres")?.inputs;
    expect(k8s.get(postgres, "spec.serviceName")).toBe(generatedName("prod-tracking-postgres"));
    expect(k8s.get(postgres, "spec.volumeClaimTemplates.0.spec.resources.requests.storage")).toBe("10Gi");
    expect(k8s.get(ofType("core/v1:Service").find((s) => s.name === "prod-tracking-postgres")?.inputs, "spec.clusterIP")).toBe("None");
    expectStandardLabels("prod-tracking");
  });

  it("runs MLflow against PostgreSQL and the S3 store with a migration and a connection check first", async () => {
    new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs());
    await settle();
    const pod = k8s.get(one("apps/v1:Deployment"), "spec.template.spec");
    const [waitFor, migrate] = k8s.list(k8s.get(pod, "initContainers"));
    const mlflow = k8s.get(pod, "containers.0");
    const pgHost = `${generatedName("prod-tracking-postgres")}.mlops.svc.cluster.local`;
    expect(k8s.get(waitFor, "name")).toBe("wait-for-database");
    expect(k8s.get(migrate, "command")).toEqual(["python", "-c", k8s.migrateDatabaseScript, `postgresql://mlflow@${pgHost}:5432/mlflow`]);
    expect(k8s.migrateDatabaseScript).toContain('["mlflow", "db", "upgrade", uri]');
    expect(k8s.get(mlflow, "args")).toEqual(
      expect.arrayContaining([
        `--backend-store-uri=postgresql://mlflow@${pgHost}:5432/mlflow`,
        "--artifacts-destination=s3://mlflow/mlflow",
        "--serve-artifacts",
        "--app-name=basic-auth",
        "--port=5000",
      ]),
    );
    const secretName = generatedName("prod-tracking-credentials");
    const env = envOf(mlflow);
    expect(env.PGPASSWORD).toEqual({ secretKeyRef: { name: secretName, key: "database-password" } });
    expect(env.AWS_SECRET_ACCESS_KEY).toEqual({ secretKeyRef: { name: secretName, key: "s3-secret-access-key" } });
    expect(env.MLFLOW_S3_ENDPOINT_URL).toBe(`http://${generatedName("prod-tracking-object-store")}.mlops.svc.cluster.local:9000`);
    expect(env.MLFLOW_AUTH_CONFIG_PATH).toBe("/etc/mlflow-auth/basic_auth.ini");
    expect(env.MLFLOW_FLASK_SERVER_SECRET_KEY).toEqual({ secretKeyRef: { name: secretName, key: "flask-secret-key" } });
    expect(k8s.get(mlflow, "readinessProbe")).toMatchObject({ httpGet: { path: "/health" }, initialDelaySeconds: 10, periodSeconds: 30, failureThreshold: 5 });
    expect(k8s.get(mlflow, "livenessProbe")).toMatchObject({ initialDelaySeconds: 10, periodSeconds: 30, failureThreshold: 5 });
    expect(allImages()).toEqual(expect.arrayContaining(["postgres:16.4", "minio/minio:RELEASE.2025-04-22T22-12-26Z", "registry.example.com/mlops/mlops-mlflow:0.1.0"]));
    expect(allImages().filter((image) => image.endsWith(":latest") || !image.includes(":"))).toEqual([]);
    const bucketJob = k8s.get(one("batch/v1:Job"), "spec.template.spec.containers.0");
    expect(k8s.get(bucketJob, "image")).toBe("registry.example.com/mlops/mlops-mlflow:0.1.0");
    expect(k8s.get(bucketJob, "command")).toEqual(["python", "/app/create_bucket.py"]);
    expect(envOf(bucketJob)).toMatchObject({
      BUCKET: "mlflow",
      MLFLOW_S3_ENDPOINT_URL: env.MLFLOW_S3_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: secretName, key: "s3-access-key-id" } },
    });
  });

  it("makes PostgreSQL ready only once the role takes the Secret's password (the docker health check's sync); alive on pg_isready alone", async () => {
    new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs());
    await settle();
    const postgres = k8s.get(ofType("apps/v1:StatefulSet").find((s) => s.name === "prod-tracking-postgres")?.inputs, "spec.template.spec.containers.0");
    const [shell, flag, script = ""] = k8s.list(k8s.get(postgres, "readinessProbe.exec.command")).map(String);
    expect([shell, flag]).toEqual(["sh", "-c"]);
    expect(script).toBe(postgresReadyCommand({ user: "mlflow", database: "mlflow" }));
    expect(script).toContain(rolePasswordSync());
    expect(script.indexOf("pg_isready")).toBeLessThan(script.indexOf("ALTER ROLE"));
    expect(k8s.get(postgres, "livenessProbe.exec.command")).toEqual(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "mlflow", "-d", "mlflow"]);
    // The script reads the password from the container's env, which the Secret fills.
    expect(envOf(postgres).POSTGRES_PASSWORD).toEqual({ secretKeyRef: { name: generatedName("prod-tracking-credentials"), key: "database-password" } });
  });

  it("runs the image's admin sync (sync_auth_admin.py) on the mounted auth config before MLflow, only with basic auth", async () => {
    new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs());
    await settle();
    const pod = k8s.get(one("apps/v1:Deployment"), "spec.template.spec");
    const inits = k8s.list(k8s.get(pod, "initContainers"));
    expect(inits.map((c) => k8s.get(c, "name"))).toEqual(["wait-for-database", "migrate-database", "sync-auth-admin"]);
    const sync = inits[2];
    expect(k8s.get(sync, "command")).toEqual(["python", "/app/sync_auth_admin.py", "/etc/mlflow-auth/basic_auth.ini"]);
    expect(k8s.get(sync, "volumeMounts")).toEqual([{ name: "auth-config", mountPath: "/etc/mlflow-auth", readOnly: true }]);
    expect(envOf(sync).PGPASSWORD).toEqual({ secretKeyRef: { name: generatedName("prod-tracking-credentials"), key: "database-password" } });
    expect(envOf(k8s.get(pod, "containers.0")).MLFLOW_AUTH_CONFIG_PATH).toBe("/etc/mlflow-auth/basic_auth.ini");

    registered.splice(0);
    new k8s.KubernetesTrackingServer("open-tracking", trackingArgs({ auth: undefined }));
    await settle();
    const open = k8s.list(k8s.get(one("apps/v1:Deployment"), "spec.template.spec.initContainers"));
    expect(open.map((c) => k8s.get(c, "name"))).toEqual(["wait-for-database", "migrate-database"]);
  });

  it("refuses to build without the key of its Secret digests", () => {
    expect(() => new k8s.KubernetesTrackingServer("keyless-tracking", trackingArgs({ secretDigestKey: undefined }))).toThrow(/expected secretDigestKey/);
  });

  it("rolls each workload when a Secret value it reads changes: a digest on its pod template, never the value, unchanged otherwise", async () => {
    /** The digest annotation of the PostgreSQL and object-store StatefulSets and the MLflow Deployment. */
    const digests = async (overrides: Partial<K8sComponents.KubernetesTrackingServerArgs> = {}) => {
      registered.splice(0);
      new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs(overrides));
      await settle();
      const of = (suffix: string, name: string) => {
        const inputs = ofType(suffix).find((r) => r.name === name)?.inputs;
        expect(isRpcSecret(k8s.get(inputs, "spec")), `${name}: the spec stays readable (the digest is not a secret)`).toBe(false);
        return String(k8s.stringMap(k8s.get(inputs, "spec.template.metadata.annotations"))[k8s.secretDigestAnnotation]);
      };
      return {
        postgres: of("apps/v1:StatefulSet", "prod-tracking-postgres"),
        objectStore: of("apps/v1:StatefulSet", "prod-tracking-object-store"),
        mlflow: of("apps/v1:Deployment", "prod-tracking-mlflow"),
        all: JSON.stringify(registered.filter((r) => r.type !== "kubernetes:core/v1:Secret").map((r) => r.inputs)),
      };
    };
    const first = await digests();
    for (const digest of [first.postgres, first.objectStore, first.mlflow]) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(first.postgres).toBe(k8s.secretDigest(digestKey, { "database-password": dbPassword }));
    // Keyed: not the plain SHA-256 a guess of the password could be checked against, nor the key in the clear.
    expect(first.postgres).not.toBe(createHash("sha256").update(`database-password\0${dbPassword}\0`).digest("hex"));
    expect(first.all).not.toContain(digestKey);
    for (const credential of [dbPassword, s3Secret, adminPassword]) expect(first.all).not.toContain(credential);
    // The same passwords: the same digests, so a run without a rotation changes nothing.
    expect(await digests()).toEqual(first);
    // A new database password rolls PostgreSQL and MLflow, not the object store.
    const newDatabase = await digests({ databasePassword: pulumi.secret("db-pass-rotated") });
    expect([newDatabase.postgres === first.postgres, newDatabase.objectStore === first.objectStore, newDatabase.mlflow === first.mlflow]).toEqual([false, true, false]);
    // New S3 keys roll the object store and MLflow; a new admin password only MLflow.
    const newKeys = await digests({ objectStoreCredentials: pulumi.secret({ accessKeyId: "mlflow-access", secretAccessKey: "s3-secret-rotated" }) });
    expect([newKeys.postgres === first.postgres, newKeys.objectStore === first.objectStore, newKeys.mlflow === first.mlflow]).toEqual([true, false, false]);
    const newAdmin = await digests({ auth: { adminUser: "admin", adminPassword: pulumi.secret("admin-pass-rotated") } });
    expect([newAdmin.postgres === first.postgres, newAdmin.objectStore === first.objectStore, newAdmin.mlflow === first.mlflow]).toEqual([true, true, false]);
    // A new key (a rotation replaces it too) changes every digest.
    const newKey = await digests({ secretDigestKey: pulumi.secret("another-digest-key-0123456789") });
    expect([newKey.postgres === first.postgres, newKey.objectStore === first.objectStore, newKey.mlflow === first.mlflow]).toEqual([false, false, false]);
  });

  it("keeps every credential in the Secret, as secret values, and out of every other object and output", async () => {
    const server = new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs({ databasePassword: dbPassword }));
    const outputs = await Promise.all([value(server.jobTrackingUri), value(server.driverTrackingUri), value(server.portForwardCommand), value(server.artifactLocation)]);
    await settle();
    const secret = one("core/v1:Secret");
    expect(isRpcSecret(secret.stringData), "stringData reaches the engine as a secret").toBe(true);
    const secretText = JSON.stringify(secret.stringData);
    for (const credential of [dbPassword, s3Secret, adminPassword]) {
      expect(secretText).toContain(credential);
      const elsewhere = registered.filter((r) => r.type !== "kubernetes:core/v1:Secret" && JSON.stringify(r.inputs).includes(credential));
      expect(elsewhere.map((r) => `${r.type} ${r.name}`)).toEqual([]);
      expect(outputs.join(" ")).not.toContain(credential);
    }
    expect(secretText).toContain("admin_username = admin");
    expect(secretText).toContain(deriveFlaskSecretKey(adminPassword));
  });

  it("passes the production posture checks as rendered", async () => {
    new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs());
    await settle();
    expect(k8s.checkPosture(renderedManifests()).map(k8s.formatViolation)).toEqual([]);
  });

  it("uses SeaweedFS with its S3 identities from the Secret", async () => {
    new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs({ objectStore: objectStoreSchema.parse({ kind: "inStack", image: "chrislusf/seaweedfs:3.80" }) }));
    await settle();
    const store = ofType("apps/v1:StatefulSet").find((s) => s.name === "prod-tracking-object-store")?.inputs;
    expect(k8s.get(store, "spec.template.spec.containers.0.command")).toEqual(["weed"]);
    expect(k8s.get(store, "spec.template.spec.volumes.0.secret.secretName")).toBe(generatedName("prod-tracking-credentials"));
    expect(JSON.stringify(one("core/v1:Secret").stringData)).toContain(s3Secret);
  });

  it("uses an external PostgreSQL and S3 without running either", async () => {
    const server = new k8s.KubernetesTrackingServer(
      "prod-tracking",
      trackingArgs({
        database: databaseSchema.parse({ kind: "external", host: "db.example.com", sslMode: "require" }),
        objectStore: objectStoreSchema.parse({ kind: "s3", bucket: "ml-artifacts", prefix: "team-a/", region: "eu-west-1", endpoint: "https://s3.example.com" }),
        auth: undefined,
      }),
    );
    expect(await value(server.artifactLocation)).toBe("s3://ml-artifacts/team-a");
    await settle();
    expect(ofType("apps/v1:StatefulSet")).toHaveLength(0);
    expect(ofType("batch/v1:Job")).toHaveLength(0);
    expect(ofType("networking.k8s.io/v1:NetworkPolicy")).toHaveLength(0);
    const mlflow = k8s.get(one("apps/v1:Deployment"), "spec.template.spec.containers.0");
    expect(envOf(mlflow)).toMatchObject({ PGHOST: "db.example.com", PGSSLMODE: "require", AWS_DEFAULT_REGION: "eu-west-1", MLFLOW_S3_ENDPOINT_URL: "https://s3.example.com" });
    expect(k8s.get(mlflow, "args")).not.toContain("--app-name=basic-auth");
    // Trainers reach an external server at its configured host: nothing to report.
    expect(server.jobDatabaseAddress).toBeUndefined();
  });

  it("admits the given database clients to the in-stack PostgreSQL besides MLflow, and reports its Service", async () => {
    const trainers = k8s.queueClientSelectors("prod-training");
    const server = new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs({ databaseClients: trainers }));
    expect(await value(server.jobDatabaseAddress ?? pulumi.output(undefined))).toEqual({ host: `${generatedName("prod-tracking-postgres")}.mlops.svc.cluster.local`, port: 5432 });
    await settle();
    const policies = ofType("networking.k8s.io/v1:NetworkPolicy").filter(
      (p) => k8s.stringMap(k8s.get(p.inputs, "spec.podSelector.matchLabels"))["app.kubernetes.io/name"] === "postgresql",
    );
    expect(policies).toHaveLength(1);
    const peers = k8s.list(k8s.get(policies[0]?.inputs, "spec.ingress.0.from")).map((peer) => k8s.get(peer, "podSelector.matchLabels"));
    expect(peers).toEqual([k8s.mlflowSelector("prod-tracking"), ...trainers]);
    expect(k8s.get(policies[0]?.inputs, "spec.ingress.0.ports")).toEqual([{ protocol: "TCP", port: 5432 }]);
    // The object store stays MLflow's (and its bucket Job's) alone.
    const store = ofType("networking.k8s.io/v1:NetworkPolicy").filter((p) => p !== policies[0]);
    expect(JSON.stringify(store.map((p) => p.inputs))).not.toContain('"trainer');
    expect(k8s.checkPosture(renderedManifests(), {}).map(k8s.formatViolation)).toEqual([]);
  });

  it.each([
    [{ database: databaseSchema.parse({ kind: "sqlite" }) }, /tracking.database.kind 'sqlite' is not supported on platform kubernetes: use inStack or external/],
    [{ objectStore: objectStoreSchema.parse({ kind: "localFolder" }) }, /tracking.objectStore.kind 'localFolder'/],
    [{ databasePassword: undefined }, /databasePassword is required/],
    [{ objectStoreCredentials: undefined }, /objectStoreCredentials is required/],
    [{ objectStore: objectStoreSchema.parse({ kind: "inStack", image: "ceph/radosgw:18.2" }) }, /expected a MinIO or SeaweedFS image/],
  ])("refuses unsupported args with what to change (%#)", (overrides, message) => {
    expect(() => new k8s.KubernetesTrackingServer("prod-tracking", trackingArgs(overrides))).toThrow(message);
  });

  it("refuses a name that cannot become a Kubernetes name", () => {
    expect(() => new k8s.KubernetesTrackingServer("Prod_Tracking", trackingArgs())).toThrow(/name 'Prod_Tracking' must be 1-40 lower-case letters/);
  });
});

const training = trainingSchema.parse({ workers: 3, retries: 2, searchSpace: { n_estimators: { values: [10, 20, 30, 40, 50] } }, resources: { cpuLimit: "2" } });
const shards = buildShardSpecs("prod", training);

function fanoutArgs(overrides: Partial<K8sComponents.KubernetesTrainingFanoutArgs> = {}): K8sComponents.KubernetesTrainingFanoutArgs {
  return {
    namespace: "mlops",
    shards,
    training,
    trackingUri: "http://mlflow.mlops.svc.cluster.local:5000",
    images,
    trackingCredentials: { username: "admin", password: pulumi.secret(adminPassword) },
    ...overrides,
  };
}

describe("KubernetesTrainingFanout (mocked provider)", () => {
  it("runs one Indexed Job with a completion per shard, after a prepare Job, from a ConfigMap of shard specs", async () => {
    expect(shards).toHaveLength(3);
    const fanout = new k8s.KubernetesTrainingFanout("prod-training", fanoutArgs());
    expect(await value(fanout.workerCount)).toBe(3);
    expect(await value(fanout.studyId)).toBe(shards[0]?.studyId);
    await settle();
    expect(countsByType()).toEqual({ "mlops:kubernetes:TrainingFanout": 1, "kubernetes:core/v1:ConfigMap": 1, "kubernetes:core/v1:Secret": 1, "kubernetes:batch/v1:Job": 2 });

    const data = k8s.stringMap(one("core/v1:ConfigMap").data);
    expect(Object.keys(data).sort()).toEqual(["shard-0.json", "shard-1.json", "shard-2.json"]);
    expect(JSON.parse(data["shard-1.json"] ?? "{}") as ShardSpec).toEqual(shards[1]);

    const jobs = ofType("batch/v1:Job");
    const prepare = jobs.find((j) => j.name === "prod-training-prepare")?.inputs;
    const indexed = jobs.find((j) => j.name === "prod-training-workers")?.inputs;
    expect(k8s.get(prepare, "spec.template.spec.containers.0.args")).toEqual(["prepare", "--spec", "/spec/shard-0.json"]);
    expect(k8s.get(indexed, "spec")).toMatchObject({
      completionMode: "Indexed",
      completions: 3,
      parallelism: 3,
      backoffLimitPerIndex: 2,
      maxFailedIndexes: 0,
      ttlSecondsAfterFinished: 86400,
    });
    const pod = k8s.get(indexed, "spec.template.spec");
    const container = k8s.get(pod, "containers.0");
    expect(k8s.get(container, "command")).toEqual(["python", "/app/trainer.py"]);
    expect(k8s.get(container, "args")).toEqual(["run", "--spec", "/spec/shard-{index}.json"]);
    expect(k8s.get(container, "image")).toBe("registry.example.com/mlops/mlops-trainer:0.1.0");
    expect(k8s.get(container, "resources")).toEqual({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "2", memory: "2Gi" } });
    expect(envOf(container)).toMatchObject({
      MLFLOW_TRACKING_URI: "http://mlflow.mlops.svc.cluster.local:5000",
      MLFLOW_TRACKING_USERNAME: "admin",
      MLFLOW_TRACKING_PASSWORD: { secretKeyRef: { name: generatedName("prod-training-tracking"), key: "tracking-password" } },
      OMP_NUM_THREADS: "2",
    });
    expect(k8s.get(pod, "volumes.0.configMap.name")).toBe(generatedName("prod-training-shards"));
    expect(k8s.get(pod, "topologySpreadConstraints.0")).toMatchObject({
      topologyKey: "kubernetes.io/hostname",
      labelSelector: { matchLabels: { "mlops-pipeline.io/study-id": shards[0]?.studyId } },
    });
    expect(k8s.get(indexed, "metadata.labels")).toMatchObject({ "mlops-pipeline.io/study-id": shards[0]?.studyId, "app.kubernetes.io/component": "trainer" });
    expectStandardLabels("prod-training");
    expect(JSON.stringify(registered.filter((r) => !r.type.endsWith(":Secret")).map((r) => r.inputs))).not.toContain(adminPassword);
    expect(k8s.checkPosture(renderedManifests(), { workers: 3 }).map(k8s.formatViolation)).toEqual([]);
  });

  it.each([
    [{ training: { ...training, workers: 4 } }, /got 3 shard specs for training.workers = 4/],
    [{ shards: [] }, /got no shards/],
    [{ shards: shards.map((s, k) => (k === 1 ? { ...s, studyId: "other" } : s)) }, /shards of different studies/],
    [{ maxFailedIndexes: 5 }, /maxFailedIndexes must be an integer between 0 and training.workers \(3\)/],
    [{ images: undefined }, /pass `image` or `images`/],
  ])("refuses inconsistent args (%#)", (overrides, message) => {
    expect(() => new k8s.KubernetesTrainingFanout("prod-training", fanoutArgs(overrides))).toThrow(message);
  });
});

const servingArgs = (serving: object, overrides: Partial<K8sComponents.KubernetesModelServingArgs> = {}): K8sComponents.KubernetesModelServingArgs => ({
  namespace: "mlops",
  modelUri: "models:/mlops-pipeline@champion",
  modelVersion: "7",
  serving: servingSchema.parse(serving),
  trackingUri: "http://mlflow.mlops.svc.cluster.local:5000",
  images,
  trackingCredentials: { username: "admin", password: pulumi.secret(adminPassword) },
  ...overrides,
});

describe("KubernetesModelServing (mocked provider)", () => {
  const production = { replicas: 3, ingress: { host: "models.example.com", tlsSecret: "models-tls" }, autoscaling: { minReplicas: 3, maxReplicas: 10, targetCpuPercent: 65 } };

  it("with ingress, TLS and autoscaling: Deployment, Service, Ingress, HPA, PDB and a NetworkPolicy", async () => {
    const serving = new k8s.KubernetesModelServing("prod-serving", servingArgs(production, { ingressControllerNamespace: "ingress-system" }));
    expect(await value(serving.endpoint)).toBe("https://models.example.com");
    await settle();
    expect(countsByType()).toEqual({
      "mlops:kubernetes:ModelServing": 1,
      "kubernetes:core/v1:Secret": 1,
      "kubernetes:apps/v1:Deployment": 1,
      "kubernetes:core/v1:Service": 1,
      "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
      "kubernetes:networking.k8s.io/v1:Ingress": 1,
      "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
      "kubernetes:policy/v1:PodDisruptionBudget": 1,
    });
    const deployment = one("apps/v1:Deployment");
    expect(k8s.get(deployment, "spec.replicas"), "created at the HPA's minimum").toBe(3);
    expect(k8s.get(one("autoscaling/v2:HorizontalPodAutoscaler"), "spec")).toMatchObject({
      scaleTargetRef: { kind: "Deployment", name: generatedName("prod-serving-server") },
      minReplicas: 3,
      maxReplicas: 10,
      metrics: [{ resource: { name: "cpu", target: { averageUtilization: 65 } } }],
    });
    expect(k8s.get(one("networking.k8s.io/v1:Ingress"), "spec")).toMatchObject({
      ingressClassName: "nginx",
      rules: [{ host: "models.example.com", http: { paths: [{ backend: { service: { name: generatedName("prod-serving-server"), port: { number: 8080 } } } }] } }],
      tls: [{ hosts: ["models.example.com"], secretName: "models-tls" }],
    });
    expect(k8s.get(one("networking.k8s.io/v1:NetworkPolicy"), "spec.ingress.0.from")).toContainEqual({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-system" } },
    });
    expect(k8s.get(one("core/v1:Service"), "spec.selector")).toEqual(k8s.get(deployment, "spec.selector.matchLabels"));
    expectStandardLabels("prod-serving");
    const expectations = { autoscaling: true, ingress: { host: "models.example.com", tls: true }, ingressControllerNamespace: "ingress-system" };
    expect(k8s.checkPosture(renderedManifests(), expectations).map(k8s.formatViolation)).toEqual([]);
  });

  /** The options each child was registered with, seen through a transformation on the component. */
  function childOptions(): { capture: pulumi.ResourceTransformation; ignoreChangesOf: (type: string) => string[] | undefined } {
    const seen = new Map<string, string[] | undefined>();
    return {
      capture: ({ type, opts }) => {
        seen.set(type, opts.ignoreChanges);
        return undefined;
      },
      ignoreChangesOf: (type) => seen.get(`kubernetes:${type}`),
    };
  }

  it("with autoscaling: the Deployment starts at minReplicas (deploy waits for them Ready) and leaves the count to the HPA afterwards", async () => {
    const options = childOptions();
    const scaling = { replicas: 2, autoscaling: { minReplicas: 4, maxReplicas: 6 } };
    new k8s.KubernetesModelServing("prod-serving", servingArgs(scaling), { transformations: [options.capture] });
    await settle();
    // Not serving.replicas: the HPA would scale a Deployment below its minimum straight back up.
    expect(k8s.get(one("apps/v1:Deployment"), "spec.replicas")).toBe(4);
    expect(k8s.get(one("autoscaling/v2:HorizontalPodAutoscaler"), "spec.minReplicas")).toBe(4);
    // Only the Deployment's count is left alone on later updates; every other field still converges.
    expect(options.ignoreChangesOf("apps/v1:Deployment")).toEqual(["spec.replicas"]);
    expect(options.ignoreChangesOf("autoscaling/v2:HorizontalPodAutoscaler") ?? []).toEqual([]);
  });

  it("without autoscaling: every update sets the replica count from config", async () => {
    const options = childOptions();
    new k8s.KubernetesModelServing("dev-serving", servingArgs({ replicas: 2 }), { transformations: [options.capture] });
    await settle();
    expect(k8s.get(one("apps/v1:Deployment"), "spec.replicas")).toBe(2);
    expect(options.ignoreChangesOf("apps/v1:Deployment") ?? []).toEqual([]);
  });

  it("serves the champion by registry URI, rolls pods when its version changes and probes /ping and /health", async () => {
    new k8s.KubernetesModelServing("prod-serving", servingArgs(production));
    await settle();
    const deployment = one("apps/v1:Deployment");
    const container = k8s.get(deployment, "spec.template.spec.containers.0");
    expect(k8s.get(deployment, "spec.strategy")).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(k8s.get(deployment, "spec.template.metadata.annotations")).toEqual({ "mlops-pipeline.io/model-version": "7" });
    expect(envOf(container)).toMatchObject({
      MODEL_URI: "models:/mlops-pipeline@champion",
      MLFLOW_TRACKING_URI: "http://mlflow.mlops.svc.cluster.local:5000",
      REPLICA_ID: { fieldRef: { fieldPath: "metadata.name" } },
      PORT: "8080",
      MLFLOW_TRACKING_PASSWORD: { secretKeyRef: { name: generatedName("prod-serving-tracking"), key: "tracking-password" } },
    });
    expect(k8s.get(container, "readinessProbe.httpGet.path")).toBe("/ping");
    expect(k8s.get(container, "livenessProbe.httpGet.path")).toBe("/health");
    expect(k8s.get(container, "image")).toBe("registry.example.com/mlops/mlops-serving:0.1.0");
    expect(k8s.get(container, "securityContext")).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    expect(JSON.stringify(registered.filter((r) => !r.type.endsWith(":Secret")).map((r) => r.inputs))).not.toContain(adminPassword);
  });

  it("without ingress or autoscaling: fixed replicas, no HPA/PDB/Ingress, the in-cluster endpoint", async () => {
    const serving = new k8s.KubernetesModelServing("dev-serving", servingArgs({ replicas: 2 }, { trackingCredentials: undefined }));
    expect(await value(serving.endpoint)).toBe(`http://${generatedName("dev-serving-server")}.mlops.svc.cluster.local:8080`);
    await settle();
    expect(k8s.get(one("apps/v1:Deployment"), "spec.replicas")).toBe(2);
    expect(ofType("autoscaling/v2:HorizontalPodAutoscaler")).toHaveLength(0);
    expect(ofType("policy/v1:PodDisruptionBudget")).toHaveLength(0);
    expect(ofType("networking.k8s.io/v1:Ingress")).toHaveLength(0);
    expect(ofType("core/v1:Secret")).toHaveLength(0);
    expect(k8s.checkPosture(renderedManifests(), { autoscaling: false }).map(k8s.formatViolation)).toEqual([]);
  });

  it("an Ingress without TLS gives an http endpoint", async () => {
    const serving = new k8s.KubernetesModelServing("dev-serving", servingArgs({ ingress: { host: "models.internal" } }));
    expect(await value(serving.endpoint)).toBe("http://models.internal");
    await settle();
    expect(k8s.get(one("networking.k8s.io/v1:Ingress"), "spec.tls")).toBeUndefined();
  });

  it.each([
    [{}, { modelUri: "runs:/abc/model" }, /modelUri 'runs:\/abc\/model' must be a registry URI/],
    [{ ingress: { host: "Models_Example" } }, {}, /serving.ingress.host 'Models_Example' must be a lower-case DNS name/],
  ])("refuses bad args with what to change (%#)", (serving, overrides, message) => {
    expect(() => new k8s.KubernetesModelServing("prod-serving", servingArgs(serving, overrides))).toThrow(message);
  });
});
