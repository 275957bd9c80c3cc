/**
 * Render mode, shared by `npm run render` and `npm run preview -- --render`: the kubernetes provider writes
 * YAML instead of talking to a cluster, so nothing real runs and there is no selection.
 */
import * as crypto from "node:crypto";
import { type StackConfig, secretEnvName } from "../config";
import { UsageError } from "./cli";
import type { DriverSecrets } from "./secrets";

/** Serving needs a model version; render mode has no selection, so this stands in for the champion's. */
export const placeholderModelVersion = "0";

/** Refuses stacks that do not run on Kubernetes, naming the file and key. */
export function requireKubernetes(config: StackConfig, stack: string, command: string): void {
  if (config.platform !== "kubernetes") {
    throw new UsageError(`Pulumi.${stack}.yaml: mlops:platform is '${config.platform}': ${command} needs a kubernetes stack (e.g. --stack prod)`);
  }
}

/**
 * Secrets for render mode only (nothing real ever runs with them). Derived from `seed` so the same seed
 * gives the same values: repeated previews then show no Secret changes.
 */
export function renderSecrets(config: StackConfig, seed: string, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const derive = (name: string) => crypto.createHmac("sha256", seed).update(name).digest("base64url");
  const { database, objectStore, auth } = config.tracking;
  const storeKeys = objectStore.kind === "inStack" || (objectStore.kind === "s3" && Boolean(env[secretEnvName("s3AccessKeyId")]));
  return {
    databasePassword: database.kind === "sqlite" ? undefined : derive("databasePassword"),
    objectStoreCredentials: storeKeys ? { accessKeyId: derive("objectStoreAccessKeyId").slice(0, 20), secretAccessKey: derive("objectStoreSecretKey") } : undefined,
    authAdminPassword: auth.enabled ? derive("authAdminPassword") : undefined,
    trainingUserPassword: auth.enabled ? derive("trainingUserPassword") : undefined,
    servingUserPassword: auth.enabled ? derive("servingUserPassword") : undefined,
    secretDigestKey: config.platform === "kubernetes" ? derive("secretDigestKey") : undefined,
  };
}
