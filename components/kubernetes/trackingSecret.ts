import { createHmac } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { roles, objectLabels } from "./meta";

/** Keys of the one Secret that holds every tracking credential; pods pick theirs by secretKeyRef. */
export const trackingSecretKeys = {
  databasePassword: "database-password",
  s3AccessKeyId: "s3-access-key-id",
  s3SecretAccessKey: "s3-secret-access-key",
  /** MLflow basic-auth config, from renderAuthIni (holds the admin password, so it is a Secret, mounted as a file). */
  authConfig: "basic_auth.ini",
  /** Signs basic-auth CSRF tokens (deriveFlaskSecretKey); every MLflow worker and replica must share it. */
  flaskSecretKey: "flask-secret-key",
  /** SeaweedFS S3 identities (holds the access key pair). */
  seaweedS3Config: "s3.json",
} as const;

/** Where each secret of the shared env plans (components/shared/mlflowClientEnv.ts) is kept in the tracking Secret. */
export const trackingSecretKeyOf = {
  objectStoreAccessKeyId: trackingSecretKeys.s3AccessKeyId,
  objectStoreSecretAccessKey: trackingSecretKeys.s3SecretAccessKey,
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

/** The Secret's values by key, each a Pulumi secret, so they stay encrypted in state whatever the caller passed. */
export function trackingSecretData(p: TrackingSecretParams): Record<string, pulumi.Input<string>> {
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
  return stringData;
}

export function buildTrackingSecret(p: TrackingSecretParams, stringData = trackingSecretData(p)): k8s.types.input.core.v1.Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace: p.namespace, labels: objectLabels(p.instance, "mlflow", roles.trackingServer) },
    type: "Opaque",
    stringData,
  };
}

/** One SeaweedFS S3 identity with full rights on its buckets. */
export function renderSeaweedS3Config(creds: { accessKeyId: string; secretAccessKey: string }): string {
  const identity = { name: "mlflow", credentials: [{ accessKey: creds.accessKeyId, secretKey: creds.secretAccessKey }], actions: ["Admin", "Read", "Write", "List", "Tagging"] };
  return `${JSON.stringify({ identities: [identity] }, null, 2)}\n`;
}

/**
 * Pods take secretKeyRef env and Secret files at start only, so a workload's pod template carries a
 * digest of the Secret values it reads (helm's `checksum/secret` habit): a rotation changes it and rolls
 * the pods, a run without changes leaves it as it was. An HMAC-SHA256 over every value, labelled by
 * key, keyed with the stack's generated `secretDigestKey`: a plain hash of a user's own password (an
 * external database's, S3 keys) could be checked against guesses by anyone who reads pod specs.
 */
export function secretDigest(key: string, values: Readonly<Record<string, string | undefined>>): string {
  if (key.length < 16) throw new Error("secretDigest: expected a key of at least 16 characters (the stack's generated secretDigestKey)");
  const hmac = createHmac("sha256", key);
  for (const name of Object.keys(values).sort()) hmac.update(`${name}\0${values[name] ?? ""}\0`);
  return hmac.digest("hex");
}

/**
 * The digest as an Output. It is unsecreted on purpose: a keyed digest gives back nothing without the
 * key, and a secret one would make the whole pod spec secret (hidden in every diff and in state).
 */
export function secretDigestOf(key: pulumi.Input<string>, values: Readonly<Record<string, pulumi.Input<string> | undefined>>): pulumi.Output<string> {
  return pulumi.unsecret(pulumi.all([key, pulumi.output(values)]).apply(([k, v]) => secretDigest(k, v as Record<string, string | undefined>)));
}
