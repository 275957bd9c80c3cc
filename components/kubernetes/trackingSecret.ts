import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { roles, objectLabels } from "./meta";

/** Keys of the one Secret that holds every tracking credential; pods pick theirs by secretKeyRef. */
export const trackingSecretKeys = {
  databasePassword: "database-password",
  s3AccessKeyId: "s3-access-key-id",
  s3SecretAccessKey: "s3-secret-access-key",
  /** MLflow basic-auth config (holds the admin password, so it is a Secret, mounted as a file). */
  authConfig: "basic_auth.ini",
  /** Signs basic-auth CSRF tokens; every MLflow worker and replica must share it. */
  flaskSecretKey: "flask-secret-key",
  /** SeaweedFS S3 identities (holds the access key pair). */
  seaweedS3Config: "s3.json",
} as const;

export interface TrackingSecretParams {
  readonly instance: string;
  readonly namespace: pulumi.Input<string>;
  readonly databasePassword?: pulumi.Input<string>;
  readonly objectStoreCredentials?: pulumi.Input<{ accessKeyId: string; secretAccessKey: string }>;
  readonly authConfig?: pulumi.Input<string>;
  readonly flaskSecretKey?: pulumi.Input<string>;
  readonly seaweedS3Config?: pulumi.Input<string>;
}

/** Every value goes in as a Pulumi secret, so it stays encrypted in state whatever the caller passed. */
export function buildTrackingSecret(p: TrackingSecretParams): k8s.types.input.core.v1.Secret {
  const stringData: Record<string, pulumi.Input<string>> = {};
  if (p.databasePassword !== undefined) stringData[trackingSecretKeys.databasePassword] = pulumi.secret(p.databasePassword);
  if (p.objectStoreCredentials !== undefined) {
    const creds = pulumi.secret(p.objectStoreCredentials);
    stringData[trackingSecretKeys.s3AccessKeyId] = creds.apply((c) => c.accessKeyId);
    stringData[trackingSecretKeys.s3SecretAccessKey] = creds.apply((c) => c.secretAccessKey);
  }
  if (p.authConfig !== undefined) stringData[trackingSecretKeys.authConfig] = pulumi.secret(p.authConfig);
  if (p.flaskSecretKey !== undefined) stringData[trackingSecretKeys.flaskSecretKey] = pulumi.secret(p.flaskSecretKey);
  if (p.seaweedS3Config !== undefined) stringData[trackingSecretKeys.seaweedS3Config] = pulumi.secret(p.seaweedS3Config);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace: p.namespace, labels: objectLabels(p.instance, "mlflow", roles.trackingServer) },
    type: "Opaque",
    stringData,
  };
}

/** configparser treats '%' as interpolation, so a literal one must be doubled. */
const iniValue = (value: string) => value.replace(/%/g, "%%").replace(/[\r\n]/g, "");

/**
 * MLflow's basic-auth config. The permission tables live in the tracking PostgreSQL (their own alembic
 * table), so every MLflow replica sees the same users; the password comes from PGPASSWORD.
 */
export function renderAuthConfig(p: { databaseUri: string; adminUser: string; adminPassword: string }): string {
  if (p.adminPassword.length <= 12) throw new Error("KubernetesTrackingServer: the MLflow admin password (authAdminPassword) must be longer than 12 characters: MLflow refuses to start otherwise");
  return [
    "[mlflow]",
    "default_permission = READ",
    `database_uri = ${iniValue(p.databaseUri)}`,
    `admin_username = ${iniValue(p.adminUser)}`,
    `admin_password = ${iniValue(p.adminPassword)}`,
    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
    "",
  ].join("\n");
}

/**
 * A stable CSRF signing key derived from the admin password (one-way), so it needs no random provider,
 * stays the same across deployments and changes when the password is rotated.
 */
export function deriveFlaskSecretKey(adminPassword: string): string {
  return createHash("sha256").update(`mlops-pipeline/mlflow-csrf/${adminPassword}`).digest("hex");
}

/** One SeaweedFS S3 identity with full rights on its buckets. */
export function renderSeaweedS3Config(creds: { accessKeyId: string; secretAccessKey: string }): string {
  const identity = { name: "mlflow", credentials: [{ accessKey: creds.accessKeyId, secretKey: creds.secretAccessKey }], actions: ["Admin", "Read", "Write", "List", "Tagging"] };
  return `${JSON.stringify({ identities: [identity] }, null, 2)}\n`;
}
