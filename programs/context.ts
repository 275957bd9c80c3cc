import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { LocalPaths } from "../components/local/paths";
import { imageRef as sharedImageRef } from "../components/shared/images";

/** Secrets a phase program may need; each is a Pulumi secret Output, never a plain string. */
export interface PhaseSecrets {
  readonly databasePassword?: pulumi.Output<string>;
  readonly objectStoreCredentials?: pulumi.Output<{ accessKeyId: string; secretAccessKey: string }>;
  readonly authAdminPassword?: pulumi.Output<string>;
}

/** What every phase program receives: the parsed config and where things live. No raw config. */
export interface PhaseContext {
  /** The user's stack (`local`, `dev`, `prod`); phase stacks are named `<stack>-<phase>`. */
  readonly stack: string;
  readonly config: StackConfig;
  readonly paths: LocalPaths;
  readonly secrets: PhaseSecrets;
  /** Kubernetes only: write manifests to this folder instead of applying them (`npm run render`). */
  readonly renderDir?: string;
}

/** Outputs of the tracking phase that later phases consume. */
export interface TrackingOutputs {
  readonly driverTrackingUri: string;
  readonly jobTrackingUri: string;
  readonly artifactLocation: string;
}

/** Images we build, named by config: `<registry>/mlops-<role>:<tag>`. */
export function imageRef(config: StackConfig, role: "trainer" | "serving" | "mlflow"): string {
  return sharedImageRef(config.images, `mlops-${role}`);
}

/** MLflow basic-auth credentials for clients, when auth is on. */
export function trackingCredentials(ctx: PhaseContext): { username: string; password: pulumi.Output<string> } | undefined {
  const { auth } = ctx.config.tracking;
  if (!auth.enabled) return undefined;
  if (!ctx.secrets.authAdminPassword) throw new Error("tracking.auth.enabled is true but no admin password was provided to the program");
  return { username: auth.adminUser, password: ctx.secrets.authAdminPassword };
}
