import type { OutputMap } from "@pulumi/pulumi/automation";
import { type AccessArgs, grantServingAccess, grantTrainingAccess } from "../components/registry/mlflowAccess";
import type { StackConfig } from "../config";
import { need } from "./phases";
import { withTrackingAccess } from "./portForward";
import type { DriverSecrets } from "./secrets";
import { driverSecretsFrom, serviceUserPasswordsFrom } from "./stackSecrets";

/**
 * The driver's side of MLflow's least-privilege users (components/registry/mlflowAccess.ts): before train
 * and after select, with auth on, through the port-forward on kubernetes.
 */
export { type AccessArgs, grantServingAccess, grantTrainingAccess } from "../components/registry/mlflowAccess";

export interface PipelineAccess {
  readonly config: StackConfig;
  /** The tracking phase's outputs (driverTrackingUri, generatedSecrets, and portForwardCommand on kubernetes). */
  readonly handoff: OutputMap;
  readonly user: DriverSecrets;
  readonly log: (line: string) => void;
}

/**
 * The pipeline's step: before train (`stage: "train"`) or after select (`"serve"`, for `modelName`), with
 * auth on. Nothing to do with auth off. On kubernetes MLflow is reached through the port-forward.
 */
export async function keepMlflowAccess(p: PipelineAccess, stage: { readonly train: string } | { readonly serve: string }): Promise<void> {
  if (!p.config.tracking.auth.enabled) return;
  const adminPassword = driverSecretsFrom(p.handoff, p.user).authAdminPassword;
  const passwords = serviceUserPasswordsFrom(p.handoff);
  if (!adminPassword || !passwords) throw new Error("tracking.auth is on but the tracking stack holds no MLflow user passwords: run the init phase first");
  const args: AccessArgs = { trackingUri: need<string>(p.handoff, "driverTrackingUri"), adminUser: p.config.tracking.auth.adminUser, adminPassword, passwords };
  const changes = await withTrackingAccess(p.config, p.handoff, () => ("train" in stage ? grantTrainingAccess(args, stage.train) : grantServingAccess(args, stage.serve)));
  p.log(changes.length === 0 ? "MLflow users and permissions: unchanged" : `MLflow users and permissions: ${changes.join("; ")}`);
}
