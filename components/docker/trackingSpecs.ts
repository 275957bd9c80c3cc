import type { DatabaseConfig, ObjectStoreConfig, Resources } from "../../config";
import { type ObjectStoreFlavor, objectStoreFlavor } from "../shared/images";
import { deriveFlaskSecretKey, renderAuthIni, sqliteAuthDatabaseUri } from "../shared/mlflowAuth";
import { postgresReadyCommand } from "../shared/postgresRole";
import { s3ClientEnv } from "../shared/mlflowClientEnv";
import { baseContainer, type ContainerSpec, httpHealthcheck, objectLabels, type SecretValues, type Topology, topologyOf, type VolumeSpec, withLimits } from "./specBasics";

/**
 * The tracking topology of the Docker platform: PostgreSQL, an S3 server and MLflow as container specs.
 * Pure functions of typed config; the Pulumi component calls them, unit tests check them.
 */

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
/** Where the MLflow image keeps basic-auth users (a volume when auth is on). */
export const authDataDir = "/var/lib/mlflow-auth";
/** Small helpers (bucket creation) get modest limits whatever the server's. */
const helperResources = { cpuLimit: "500m", memoryLimit: "512Mi" };

export function artifactLocation(store: TrackingTopologyArgs["objectStore"]): string {
  return store.kind === "s3" ? `s3://${store.bucket}/${store.prefix}` : `s3://${store.bucket}`;
}

function s3Endpoint(store: TrackingTopologyArgs["objectStore"]): string | undefined {
  if (store.kind === "s3") return store.endpoint;
  return `http://objectstore:${s3Ports[objectStoreFlavor(store.image)]}`;
}

function s3Env(args: TrackingTopologyArgs): Pick<ContainerSpec, "env" | "secretEnv"> {
  return s3ClientEnv({
    endpointUrl: s3Endpoint(args.objectStore),
    region: args.objectStore.kind === "s3" ? args.objectStore.region : "us-east-1",
    hasCredentials: args.hasObjectStoreCredentials,
  });
}

function postgresContainer(args: TrackingTopologyArgs, db: Extract<DatabaseConfig, { kind: "inStack" }>, volume: string): ContainerSpec {
  // Healthy only once the role takes this container's password: MLflow starts after it (a later group).
  const probe = postgresReadyCommand({ user: db.user, database: db.database });
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
  const s3 = s3Env(args);
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
  const s3 = s3Env(args);
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
      },
      // The image's entrypoint writes MLFLOW_AUTH_CONFIG to a 0600 file and points MLflow at it.
      secretEnv: { ...s3.secretEnv, PGPASSWORD: "databasePassword", ...(auth ? { MLFLOW_AUTH_CONFIG: "authConfig", MLFLOW_FLASK_SERVER_SECRET_KEY: "flaskSecretKey" } : {}) },
      ports: [{ internal: args.port, external: args.publishedPort, hostIp: args.publishHostIp }],
      healthcheck: httpHealthcheck(args.port, "/health", 20),
      mounts: auth ? [{ volume: `${args.prefix}-mlflow-auth`, target: authDataDir }] : [],
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

/**
 * The auth secrets MLflow takes, derived from the admin password by the rules every platform shares:
 * the basic-auth config (its users in a SQLite file per admin password) and the CSRF signing key.
 */
export function withAuthSecrets(secrets: SecretValues, adminUser: string | undefined): SecretValues {
  const adminPassword = secrets.authAdminPassword;
  if (adminUser === undefined || adminPassword === undefined) return secrets;
  return {
    ...secrets,
    authConfig: renderAuthIni({ databaseUri: sqliteAuthDatabaseUri(authDataDir, adminPassword), adminUser, adminPassword }),
    flaskSecretKey: deriveFlaskSecretKey(adminPassword),
  };
}
