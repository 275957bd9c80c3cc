import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import type { LocalPaths } from "../components/local/paths";
import type { GeneratedSecretsPlan } from "../components/shared/generatedSecrets";
import { type BuiltImageRole, builtImageRef } from "../components/shared/images";

/** Secrets a phase program may need; each is a Pulumi secret Output, never a plain string. */
export interface PhaseSecrets {
  readonly databasePassword?: pulumi.Output<string>;
  readonly objectStoreCredentials?: pulumi.Output<{ accessKeyId: string; secretAccessKey: string }>;
  readonly authAdminPassword?: pulumi.Output<string>;
  /** `tracking.database.manage` only: the password of `adminUser`, which creates MLflow's role and database. */
  readonly databaseAdminPassword?: pulumi.Output<string>;
  readonly servingApiKey?: pulumi.Output<string>;
}

/** What every phase program receives: the parsed config and where things live. No raw config. */
export interface PhaseContext {
  /** The user's stack (`local`, `dev`, `prod`); phase stacks are named `<stack>-<phase>`. */
  readonly stack: string;
  readonly config: StackConfig;
  readonly paths: LocalPaths;
  readonly secrets: PhaseSecrets;
  /** Tracking phase only: adopt or rotate the generated passwords (programs/secrets.ts). */
  readonly generatedSecrets?: GeneratedSecretsPlan;
  /** Kubernetes only: write manifests to this folder instead of applying them (`npm run render`). */
  readonly renderDir?: string;
}

/** Outputs of the tracking phase that later phases consume. */
export interface TrackingOutputs {
  readonly driverTrackingUri: string;
  readonly jobTrackingUri: string;
  readonly artifactLocation: string;
}

export const phaseStackName = (stack: string, phase: "tracking" | "training" | "serving") => `${stack}-${phase}`;

/** An image we build, named from config by the one rule in components/shared/images.ts. */
export function imageRef(config: StackConfig, role: BuiltImageRole): string {
  return builtImageRef(config.images, role);
}

/** MLflow basic-auth credentials for clients, when auth is on. */
export function trackingCredentials(ctx: PhaseContext): { username: string; password: pulumi.Output<string> } | undefined {
  const { auth } = ctx.config.tracking;
  if (!auth.enabled) return undefined;
  if (!ctx.secrets.authAdminPassword) throw new Error("tracking.auth.enabled is true but no admin password was provided to the program");
  return { username: auth.adminUser, password: ctx.secrets.authAdminPassword };
}
