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

/** init: the MLflow tracking server with its database and artifact store (the bucket first, when the stack creates it). */
export function trackingProgram(ctx: PhaseContext): TrackingServer {
  const name = `${ctx.stack}-tracking`;
  const bucket = artifactBucket(name, ctx);
  return platformFor(ctx.config.platform).tracking(name, trackingServerArgs(ctx), ctx, bucket ? { dependsOn: [bucket] } : undefined);
}

export const trackingOutputs = (server: TrackingServer) => ({
  driverTrackingUri: server.driverTrackingUri,
  jobTrackingUri: server.jobTrackingUri,
  artifactLocation: server.artifactLocation,
  // When MLflow is reachable from the driver only through a command (driver/portForward.ts).
  ...(server.portForwardCommand ? { portForwardCommand: server.portForwardCommand } : {}),
});

/** The tracking phase stack's program body: the stack's passwords, the server, and the outputs later phases read. */
export function trackingPhase(ctx: PhaseContext) {
  const generated = withGeneratedSecrets(ctx);
  return { ...trackingOutputs(trackingProgram(generated.ctx)), ...generated.outputs };
}
