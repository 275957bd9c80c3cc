import * as pulumi from "@pulumi/pulumi";
import { ManagedPostgres } from "../components/external/externalPostgres";
import { ArtifactBucket } from "../components/external/s3Bucket";
import type { TrackingServer, TrackingServerArgs } from "../components/interfaces";
import { type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";
import { withGeneratedSecrets } from "./secrets";

export function trackingServerArgs(ctx: PhaseContext): TrackingServerArgs {
  const { tracking, images } = ctx.config;
  const credentials = trackingCredentials(ctx, "admin");
  return {
    mlflowVersion: tracking.mlflowVersion,
    port: tracking.port,
    database: tracking.database,
    objectStore: tracking.objectStore,
    resources: tracking.resources,
    images,
    databasePassword: ctx.secrets.databasePassword,
    objectStoreCredentials: ctx.secrets.objectStoreCredentials,
    auth: credentials ? { adminUser: credentials.username, adminPassword: credentials.password } : undefined,
    secretDigestKey: ctx.secrets.secretDigestKey,
  };
}

/**
 * `tracking.objectStore` of kind s3 with `create: true`: the bucket (versioned, encrypted, private),
 * created with the stack's region, endpoint and keys. Otherwise the bucket must already exist.
 */
export function artifactBucket(name: string, ctx: PhaseContext): ArtifactBucket | undefined {
  const store = ctx.config.tracking.objectStore;
  if (store.kind !== "s3" || !store.create) return undefined;
  return new ArtifactBucket(`${name}-artifacts`, {
    bucketName: store.bucket,
    prefix: store.prefix,
    region: store.region,
    endpoint: store.endpoint,
    credentials: ctx.secrets.objectStoreCredentials,
  });
}

/** Whether this run creates MLflow's role and database (render mode never reaches a database server). */
const managesDatabase = (ctx: PhaseContext) => ctx.config.tracking.database.kind === "external" && ctx.config.tracking.database.manage && ctx.renderDir === undefined;

/**
 * `manage: true` needs the admin password: checked before any resource is declared, so a missing one
 * fails the run with the key to set and nothing half created.
 */
export function requireManagedDatabaseSecrets(ctx: PhaseContext): void {
  const db = ctx.config.tracking.database;
  if (db.kind !== "external" || !managesDatabase(ctx) || ctx.secrets.databaseAdminPassword) return;
  // RunError: a user mistake, reported by Pulumi without a stack trace.
  throw new pulumi.RunError(
    `tracking.database.manage is true but there is no password for ${db.adminUser}: set MLOPS_DATABASE_ADMIN_PASSWORD (npm run pipeline) or \`pulumi config set --secret mlops:databaseAdminPassword\` (pulumi up)`,
  );
}

/**
 * `tracking.database` of kind external with `manage: true`: MLflow's role (with the stack's database
 * password) and its database, created as `adminUser` with @pulumi/postgresql. Otherwise the user made
 * them. Render mode writes manifests only and never reaches a database server.
 */
export function managedDatabase(name: string, ctx: PhaseContext): ManagedPostgres | undefined {
  const db = ctx.config.tracking.database;
  if (db.kind !== "external" || !managesDatabase(ctx)) return undefined;
  requireManagedDatabaseSecrets(ctx);
  const { databaseAdminPassword, databasePassword } = ctx.secrets;
  if (!databaseAdminPassword || !databasePassword)
    throw new Error("tracking.database.manage is true but the program got no password for MLflow's role (generated or mlops:databasePassword)");
  return new ManagedPostgres(`${name}-database`, {
    host: db.host,
    port: db.port,
    sslMode: db.sslMode,
    adminUser: db.adminUser,
    adminPassword: databaseAdminPassword,
    // A superuser can do everything a CREATEROLE/CREATEDB role can; managed services rarely grant SUPERUSER.
    adminIsSuperuser: false,
    database: db.database,
    user: db.user,
    userPassword: databasePassword,
  });
}

/**
 * init: the MLflow tracking server with its database and artifact store. The managed database and the
 * created bucket come first: MLflow migrates its tables into the database as it starts.
 */
export function trackingProgram(ctx: PhaseContext): TrackingServer {
  const name = `${ctx.stack}-tracking`;
  const dependsOn: pulumi.Resource[] = [artifactBucket(name, ctx), managedDatabase(name, ctx)].filter((r) => r !== undefined);
  return platformFor(ctx.config.platform).tracking(name, trackingServerArgs(ctx), ctx, dependsOn.length > 0 ? { dependsOn } : undefined);
}

export const trackingOutputs = (server: TrackingServer) => ({
  driverTrackingUri: server.driverTrackingUri,
  jobTrackingUri: server.jobTrackingUri,
  artifactLocation: server.artifactLocation,
  // When MLflow is reachable from the driver only through a command (driver/portForward.ts).
  ...(server.portForwardCommand ? { portForwardCommand: server.portForwardCommand } : {}),
  // Where the training pods reach the in-stack PostgreSQL (kubernetes): the shared trial queue.
  ...(server.jobDatabaseAddress ? { jobDatabaseAddress: server.jobDatabaseAddress } : {}),
});

/** The tracking phase stack's program body: the stack's passwords, the server, and the outputs later phases read. */
export function trackingPhase(ctx: PhaseContext) {
  requireManagedDatabaseSecrets(ctx);
  const generated = withGeneratedSecrets(ctx);
  return { ...trackingOutputs(trackingProgram(generated.ctx)), ...generated.outputs };
}
