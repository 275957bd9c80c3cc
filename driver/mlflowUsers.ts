import type { OutputMap } from "@pulumi/pulumi/automation";
import { type AccessArgs, grantServingAccess, grantTrainingAccess, rotateServiceUsers } from "../components/registry/mlflowAccess";
import type { StackConfig } from "../config";
import { need } from "./phases";
import { withTrackingAccess } from "./portForward";
import type { DriverSecrets } from "./secrets";
import { driverSecretsFrom, serviceUserPasswordsFrom } from "./stackSecrets";

// The driver's side of MLflow's least-privilege users (components/registry/mlflowAccess.ts): before train
// and after select, with auth on, through the port-forward on kubernetes.

/** When the driver keeps MLflow's users: before train, after select, or right after a rotation's init phase. */
export type AccessStage = { readonly train: string } | { readonly serve: string } | { readonly rotated: true };

export interface PipelineAccess {
  readonly config: StackConfig;
  /** The tracking phase's outputs (driverTrackingUri, generatedSecrets, and portForwardCommand on kubernetes). */
  readonly handoff: OutputMap;
  readonly user: DriverSecrets;
  readonly log: (line: string) => void;
}

/**
 * The pipeline's step: before train (`stage: "train"`), after select (`"serve"`, for `modelName`) or after
 * a rotation's init phase (`"rotated"`: trainers and model servers get the new passwords on their next
 * phase, MLflow must already take them), with auth on. Nothing to do with auth off. On kubernetes MLflow
 * is reached through the port-forward.
 */
export async function keepMlflowAccess(p: PipelineAccess, stage: AccessStage): Promise<void> {
  if (!p.config.tracking.auth.enabled) return;
  const adminPassword = driverSecretsFrom(p.handoff, p.user).authAdminPassword;
  const passwords = serviceUserPasswordsFrom(p.handoff);
  if (!adminPassword || !passwords) throw new Error("tracking.auth is on but the tracking stack holds no MLflow user passwords: run the init phase first");
  const args: AccessArgs = { trackingUri: need<string>(p.handoff, "driverTrackingUri"), adminUser: p.config.tracking.auth.adminUser, adminPassword, passwords };
  const changes = await withTrackingAccess(p.config, p.handoff, () =>
    "train" in stage ? grantTrainingAccess(args, stage.train) : "serve" in stage ? grantServingAccess(args, stage.serve) : rotateServiceUsers(args),
  );
  p.log(changes.length === 0 ? "MLflow users and permissions: unchanged" : `MLflow users and permissions: ${changes.join("; ")}`);
}
