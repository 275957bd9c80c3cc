import type { TrackingServer, TrackingServerArgs } from "../components/interfaces";
import { KubernetesTrackingServer } from "../components/kubernetes";
import { type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";
import { withGeneratedSecrets } from "./secrets";

export function trackingServerArgs(ctx: PhaseContext): TrackingServerArgs {
  const { tracking, images } = ctx.config;
  const credentials = trackingCredentials(ctx);
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

/** init: the MLflow tracking server with its database and artifact store. */
export function trackingProgram(ctx: PhaseContext): TrackingServer {
  return platformFor(ctx.config.platform).tracking(`${ctx.stack}-tracking`, trackingServerArgs(ctx), ctx);
}

export const trackingOutputs = (server: TrackingServer) => ({
  driverTrackingUri: server.driverTrackingUri,
  jobTrackingUri: server.jobTrackingUri,
  artifactLocation: server.artifactLocation,
  // On a cluster MLflow is reachable from the driver only through this command (driver/portForward.ts).
  ...(server instanceof KubernetesTrackingServer ? { portForwardCommand: server.portForwardCommand } : {}),
});

/** The tracking phase stack's program body: the stack's passwords, the server, and the outputs later phases read. */
export function trackingPhase(ctx: PhaseContext) {
  const generated = withGeneratedSecrets(ctx);
  return { ...trackingOutputs(trackingProgram(generated.ctx)), ...generated.outputs };
}
