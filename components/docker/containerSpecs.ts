import type { DatabaseConfig, ObjectStoreConfig, Resources, ServingConfig } from "../../config";
import { type ObjectStoreFlavor, objectStoreFlavor } from "../shared/images";
import type { ShardSpec } from "../shared/studySpec";
import { loadBalancerConfigPath, loadBalancerEntrypoint, readLoadBalancerTemplate, renderLoadBalancerConfig } from "./loadBalancerConfig";
import { type ContainerSpec, type Topology, topologyOf, type VolumeSpec, baseContainer, httpHealthcheck, objectLabels, withLimits } from "./specBasics";

export * from "./specBasics";

/**
 * The one spec builder of the Docker platform: what runs where, for tracking, training and serving.
 * Pure functions of typed config; the Pulumi components call them, unit tests check them.
 */

// ---------- tracking ----------

// One definition of which S3 servers we can run, shared with the Kubernetes platform.
export { type ObjectStoreFlavor, objectStoreFlavor };

export const s3Ports: Readonly<Record<ObjectStoreFlavor, number>> = { minio: 9000, seaweedfs: 8333 };
export const postgresPort = 5432;

export interface TrackingTopologyArgs {
  /** Component name: prefixes container and volume names. */
  readonly prefix: string;
  readonly mlflowImage: string;
  /** Port MLflow listens on inside the network. */
  readonly port: number;
  /** Host port MLflow is published on, for the driver. */
  readonly publishedPort: number;
  readonly publishHostIp: string;
  readonly database: Exclude<DatabaseConfig, { kind: "sqlite" }>;
  readonly objectStore: Exclude<ObjectStoreConfig, { kind: "localFolder" }>;
  /** Whether an access key pair is given (always for inStack; optional for s3 with ambient credentials). */
  readonly hasObjectStoreCredentials: boolean;
  readonly authAdminUser?: string;
  readonly resources: Resources;
}

export interface TrackingTopology extends Topology {
  /** The tracking URI containers on the network use. */
  readonly jobTrackingUri: string;
  /** The tracking URI on the Docker host (the published port). */
  readonly driverTrackingUri: string;
  readonly artifactLocation: string;
}

const mlflowAlias = "mlflow";
/** Small helpers (bucket creation) get modest limits whatever the server's. */
const helperResources = { cpuLimit: "500m", memoryLimit: "512Mi" };

export function artifactLocation(store: TrackingTopologyArgs["objectStore"]): string {
  return store.kind === "s3" ? `s3://${store.bucket}/${store.prefix}` : `s3://${store.bucket}`;
}

function s3Endpoint(store: TrackingTopologyArgs["objectStore"]): string | undefined {
  if (store.kind === "s3") return store.endpoint;
  return `http://objectstore:${s3Ports[objectStoreFlavor(store.image)]}`;
}

function s3ClientEnv(args: TrackingTopologyArgs): Pick<ContainerSpec, "env" | "secretEnv"> {
  const endpoint = s3Endpoint(args.objectStore);
  const region = args.objectStore.kind === "s3" ? args.objectStore.region : "us-east-1";
  return {
    env: { AWS_DEFAULT_REGION: region, ...(endpoint ? { MLFLOW_S3_ENDPOINT_URL: endpoint } : {}) },
    secretEnv: args.hasObjectStoreCredentials ? { AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" } : {},
  };
}

function postgresContainer(args: TrackingTopologyArgs, db: Extract<DatabaseConfig, { kind: "inStack" }>, volume: string): ContainerSpec {
  const probe = `pg_isready -h 127.0.0.1 -U ${db.user} -d ${db.database} -q`;
  return withLimits(
    {
      ...baseContainer(args.prefix, "postgres", "postgresql", db.image),
      env: { POSTGRES_USER: db.user, POSTGRES_DB: db.database },
      secretEnv: { POSTGRES_PASSWORD: "databasePassword" },
      mounts: [{ volume, target: "/var/lib/postgresql/data" }],
      healthcheck: { test: ["CMD-SHELL", probe], intervalSeconds: 2, timeoutSeconds: 5, retries: 60, startPeriodSeconds: 5 },
    },
    args.resources,
  );
}

function objectStoreContainer(args: TrackingTopologyArgs, image: string, volume: string): ContainerSpec {
  const flavor = objectStoreFlavor(image);
  const base = { ...baseContainer(args.prefix, "objectstore", flavor, image), mounts: [{ volume, target: "/data" }] };
  if (flavor === "minio") {
    return withLimits(
      {
        ...base,
        entrypoint: ["minio"],
        command: ["server", "/data", "--address", `:${s3Ports.minio}`],
        secretEnv: { MINIO_ROOT_USER: "objectStoreAccessKeyId", MINIO_ROOT_PASSWORD: "objectStoreSecretAccessKey" },
      },
      args.resources,
    );
  }
  return withLimits(
    {
      ...base,
      entrypoint: ["weed"],
      command: ["server", "-dir=/data", "-ip.bind=0.0.0.0", "-master.volumeSizeLimitMB=256", "-volume.max=0", "-s3", `-s3.port=${s3Ports.seaweedfs}`],
      // SeaweedFS takes its admin identity from the standard AWS variables.
      secretEnv: { AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" },
    },
    args.resources,
  );
}

/** Creates the artifact bucket once the object store answers (retrying while it starts). */
function bucketInitContainer(args: TrackingTopologyArgs, bucket: string): ContainerSpec {
  const s3 = s3ClientEnv(args);
  return withLimits(
    {
      ...baseContainer(args.prefix, "bucket-init", "mlflow", args.mlflowImage),
      entrypoint: ["python", "/app/create_bucket.py"],
      command: [],
      env: { ...s3.env, BUCKET: bucket, PYTHONUNBUFFERED: "1" },
      secretEnv: s3.secretEnv,
      restart: "no",
      networkAliases: [],
      runToCompletion: true,
    },
    helperResources,
  );
}

/** Host headers MLflow accepts (it refuses unknown ones): its alias on the network and the published loopback. */
export function mlflowAllowedHosts(): string[] {
  return ["localhost", "127.0.0.1", mlflowAlias].flatMap((host) => [host, `${host}:*`]);
}

function mlflowContainer(args: TrackingTopologyArgs): ContainerSpec {
  const db =
    args.database.kind === "inStack" ? { host: "postgres", port: postgresPort, database: args.database.database, user: args.database.user, sslMode: "disable" } : args.database;
  const s3 = s3ClientEnv(args);
  const auth = args.authAdminUser !== undefined;
  const command = [
    "mlflow",
    "server",
    "--host=0.0.0.0",
    `--port=${args.port}`,
    // No password in the URI: libpq reads PGPASSWORD, so nothing secret shows in the command line.
    `--backend-store-uri=postgresql://${encodeURIComponent(db.user)}@${db.host}:${db.port}/${encodeURIComponent(db.database)}`,
    `--artifacts-destination=${artifactLocation(args.objectStore)}`,
    "--serve-artifacts",
    "--workers=2",
    `--allowed-hosts=${mlflowAllowedHosts().join(",")}`,
    ...(auth ? ["--app-name=basic-auth"] : []),
  ];
  return withLimits(
    {
      ...baseContainer(args.prefix, mlflowAlias, "mlflow", args.mlflowImage),
      command,
      env: {
        ...s3.env,
        PGHOST: db.host,
        PGPORT: String(db.port),
        PGDATABASE: db.database,
        PGUSER: db.user,
        PGSSLMODE: db.sslMode,
        PYTHONUNBUFFERED: "1",
        ...(auth ? { MLFLOW_AUTH_ADMIN_USER: args.authAdminUser ?? "admin" } : {}),
      },
      secretEnv: { ...s3.secretEnv, PGPASSWORD: "databasePassword", ...(auth ? { MLFLOW_AUTH_ADMIN_PASSWORD: "authAdminPassword" as const } : {}) },
      ports: [{ internal: args.port, external: args.publishedPort, hostIp: args.publishHostIp }],
      healthcheck: httpHealthcheck(args.port, "/health", 20),
      mounts: auth ? [{ volume: `${args.prefix}-mlflow-auth`, target: "/var/lib/mlflow-auth" }] : [],
    },
    args.resources,
  );
}

/** PostgreSQL and the object store (together) when in-stack, then the bucket job, then MLflow. */
export function trackingTopology(args: TrackingTopologyArgs): TrackingTopology {
  const volumes: VolumeSpec[] = [];
  const volume = (role: string) => {
    const name = `${args.prefix}-${role}`;
    volumes.push({ name, labels: objectLabels(args.prefix, "volume", role) });
    return name;
  };
  const stores: ContainerSpec[] = [];
  const jobs: ContainerSpec[] = [];
  if (args.database.kind === "inStack") stores.push(postgresContainer(args, args.database, volume("postgres-data")));
  if (args.objectStore.kind === "inStack") {
    if (!args.hasObjectStoreCredentials) throw new Error("tracking.objectStore is inStack: an access key pair is needed for the object store");
    stores.push(objectStoreContainer(args, args.objectStore.image, volume("objectstore-data")));
    jobs.push(bucketInitContainer(args, args.objectStore.bucket));
  }
  if (args.authAdminUser !== undefined) volume("mlflow-auth");
  return {
    ...topologyOf(volumes, [stores, jobs, [mlflowContainer(args)]]),
    jobTrackingUri: `http://${mlflowAlias}:${args.port}`,
    driverTrackingUri: `http://${args.publishHostIp === "0.0.0.0" ? "127.0.0.1" : args.publishHostIp}:${args.publishedPort}`,
    artifactLocation: artifactLocation(args.objectStore),
  };
}

// ---------- training ----------

export interface TrainingTopologyArgs {
  readonly prefix: string;
  readonly trainerImage: string;
  readonly trackingUri: string;
  readonly shards: readonly ShardSpec[];
  /** Extra attempts per container after a failure; finished trials are skipped on a rerun. */
  readonly retries: number;
  readonly resources: Resources;
  readonly trackingUsername?: string;
  /**
   * A value that changes when the previous training update failed (the driver: that update's start time).
   * Docker jobs run once per container, so a new value recreates them: a rerun after a failure trains
   * again (finished trials are skipped by the trainer, which recognises them by their trial key).
   */
  readonly rerunKey?: string;
}

export const rerunLabel = "io.mlops-pipeline.rerun-key";
export const studyIdLabel = "io.mlops-pipeline.study-id";
export const shardPath = (workerIndex: number) => `/etc/mlops/shard-${workerIndex}.json`;

/**
 * Runs `"$@"` up to 1 + MLOPS_RETRIES times: Docker's own restart policy would restart a job after
 * its exit has been reported, so retries live inside the container and its exit code is final.
 */
const retryLoop = [
  'attempt=1; while :; do "$@" && exit 0; code=$?',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'if [ "$attempt" -gt "${MLOPS_RETRIES:-0}" ]; then echo "mlops: giving up after $attempt attempt(s), exit $code" >&2; exit "$code"; fi',
  'echo "mlops: attempt $attempt failed (exit $code); retrying" >&2; attempt=$((attempt + 1)); sleep 2; done',
].join("; ");

function trainerContainer(args: TrainingTopologyArgs, role: string, step: "prepare" | "run", shard: ShardSpec): ContainerSpec {
  const file = shardPath(shard.workerIndex);
  const auth = args.trackingUsername !== undefined;
  const base = baseContainer(args.prefix, role, "trainer", args.trainerImage);
  return withLimits(
    {
      ...base,
      entrypoint: ["sh", "-c", retryLoop, "retry"],
      command: ["python", "/app/trainer.py", step, "--spec", file],
      env: {
        MLFLOW_TRACKING_URI: args.trackingUri,
        MLOPS_RETRIES: String(args.retries),
        PYTHONUNBUFFERED: "1",
        OMP_NUM_THREADS: "1",
        ...(auth ? { MLFLOW_TRACKING_USERNAME: args.trackingUsername ?? "" } : {}),
      },
      secretEnv: auth ? { MLFLOW_TRACKING_PASSWORD: "trackingPassword" } : {},
      labels: {
        ...base.labels,
        [studyIdLabel]: shard.studyId,
        "io.mlops-pipeline.worker-index": String(shard.workerIndex),
        ...(args.rerunKey !== undefined ? { [rerunLabel]: args.rerunKey } : {}),
      },
      files: [{ path: file, content: `${JSON.stringify(shard, null, 2)}\n`, mode: 0o644 }],
      restart: "no",
      networkAliases: [],
      runToCompletion: true,
    },
    args.resources,
  );
}

/** One `prepare` job (the study's parent run), then one job per shard; all must exit 0. */
export function trainingTopology(args: TrainingTopologyArgs): Topology & { readonly prepare: ContainerSpec; readonly workers: readonly ContainerSpec[] } {
  const first = args.shards[0];
  if (first === undefined) throw new Error("training fan-out needs at least one shard: the search space expanded to no trials");
  const prepare = trainerContainer(args, "prepare", "prepare", first);
  const workers = args.shards.map((shard) => trainerContainer(args, `trainer-${shard.workerIndex}`, "run", shard));
  return { ...topologyOf([], [[prepare], workers]), prepare, workers };
}

// ---------- serving ----------

export interface ServingTopologyArgs {
  readonly prefix: string;
  readonly servingImage: string;
  readonly loadBalancerImage: string;
  readonly modelUri: string;
  readonly trackingUri: string;
  readonly serving: Pick<ServingConfig, "replicas" | "port" | "loadBalancerPort" | "resources">;
  readonly publishedPort: number;
  readonly publishHostIp: string;
  /** Changes when the champion changes: part of each replica's env, so replicas are replaced (one by one). */
  readonly modelVersion?: string;
  readonly trackingUsername?: string;
  /** The nginx template; read from images/loadbalancer when omitted. */
  readonly loadBalancerTemplate?: string;
}

export const replicaRole = (index: number) => `serving-${index}`;

function replicaContainer(args: ServingTopologyArgs, index: number): ContainerSpec {
  const role = replicaRole(index);
  const auth = args.trackingUsername !== undefined;
  return withLimits(
    {
      ...baseContainer(args.prefix, role, "model-server", args.servingImage),
      env: {
        MODEL_URI: args.modelUri,
        MLFLOW_TRACKING_URI: args.trackingUri,
        HOST: "0.0.0.0",
        PORT: String(args.serving.port),
        REPLICA_ID: role,
        PYTHONUNBUFFERED: "1",
        OMP_NUM_THREADS: "1",
        ...(args.modelVersion !== undefined ? { MODEL_VERSION: args.modelVersion } : {}),
        ...(auth ? { MLFLOW_TRACKING_USERNAME: args.trackingUsername ?? "" } : {}),
      },
      secretEnv: auth ? { MLFLOW_TRACKING_PASSWORD: "trackingPassword" } : {},
      healthcheck: httpHealthcheck(args.serving.port, "/ping", 30),
    },
    args.serving.resources,
  );
}

/** R replicas, then nginx with an upstream per replica, published on the host. */
export function servingTopology(
  args: ServingTopologyArgs,
): Topology & { readonly replicas: readonly ContainerSpec[]; readonly loadBalancer: ContainerSpec; readonly endpoint: string } {
  if (!Number.isInteger(args.serving.replicas) || args.serving.replicas < 1) throw new Error(`serving.replicas: expected an integer >= 1, got ${args.serving.replicas}`);
  const replicas = Array.from({ length: args.serving.replicas }, (_, i) => replicaContainer(args, i));
  const config = renderLoadBalancerConfig(args.loadBalancerTemplate ?? readLoadBalancerTemplate(), args.serving.loadBalancerPort);
  // The balancer knows the replicas by alias, so it outlives a new champion: it follows the ready
  // replicas' addresses instead of being replaced (its published port would be down in between).
  const loadBalancer: ContainerSpec = {
    ...baseContainer(args.prefix, "loadbalancer", "nginx", args.loadBalancerImage),
    entrypoint: loadBalancerEntrypoint(replicas.map((r) => ({ host: r.role, port: args.serving.port }))),
    files: [{ path: loadBalancerConfigPath, content: config, mode: 0o644 }],
    ports: [{ internal: args.serving.loadBalancerPort, external: args.publishedPort, hostIp: args.publishHostIp }],
    memoryMb: 256,
    cpus: 0.5,
  };
  const host = args.publishHostIp === "0.0.0.0" ? "127.0.0.1" : args.publishHostIp;
  return { ...topologyOf([], [replicas, [loadBalancer]]), replicas, loadBalancer, endpoint: `http://${host}:${args.publishedPort}` };
}
