import type * as k8s from "@pulumi/kubernetes";
import type { Resources } from "../../config";
import { imageContract } from "../../config/imageContract";
import { autonameBase, childName, type EnvPlan, mlflowLoginEnv, selectorLabels, standardLabels } from "../shared";

/**
 * Small helpers every Kubernetes manifest builder shares: recommended labels, our image names,
 * the restricted pod security posture and resource requirements.
 */

export const partOf = "mlops-pipeline";

/** What a workload does; the `app.kubernetes.io/component` label, which posture checks key on. */
export const roles = {
  database: "database",
  objectStore: "object-store",
  bucketInit: "bucket-init",
  trackingServer: "tracking-server",
  trainerPrepare: "trainer-prepare",
  trainer: "trainer",
  modelServer: "model-server",
} as const;
export type Role = (typeof roles)[keyof typeof roles];

export const studyIdLabel = "mlops-pipeline.io/study-id";
export const modelVersionAnnotation = "mlops-pipeline.io/model-version";
/** On pod templates: the digest of the Secret values the pods read (trackingSecret.ts `secretDigest`). */
export const secretDigestAnnotation = "mlops-pipeline.io/secret-digest";

export type Labels = Record<string, string>;

/** The labels a Service or NetworkPolicy selects on: stable for the life of the workload. */
export function podSelector(instance: string, app: string, role: Role): Labels {
  return selectorLabels({ name: app, instance, component: role });
}

/** The recommended labels (selector labels plus part-of and managed-by) every object carries. */
export function objectLabels(instance: string, app: string, role: Role): Labels {
  return standardLabels({ name: app, instance, component: role, partOf });
}

/**
 * Component names become label values and the base of auto-generated object names (DNS labels
 * that must start with a letter and leave room for the 8-character suffix).
 */
export function validateInstanceName(component: string, name: string): void {
  if (!/^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/.test(name)) {
    throw new Error(`${component}: name '${name}' must be 1-40 lower-case letters, digits or '-', starting with a letter (it names Kubernetes objects and labels)`);
  }
}

/** Pulumi name of a child resource, which is also the prefix of its auto-generated Kubernetes name. */
export function childResourceName(name: string, role: string): string {
  return autonameBase(childName(name, role));
}

/** Our own images (mlflow, trainer, serving) run as this numeric user, so `runAsNonRoot` can be verified. */
export const appUserId = imageContract.appUserId;

export function podSecurityContext(userId: number): k8s.types.input.core.v1.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: userId, runAsGroup: userId, fsGroup: userId, seccompProfile: { type: "RuntimeDefault" } };
}

export function containerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
  return { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
}

export function resourceRequirements(r: Resources): k8s.types.input.core.v1.ResourceRequirements {
  return { requests: { cpu: r.cpuRequest, memory: r.memoryRequest }, limits: { cpu: r.cpuLimit, memory: r.memoryLimit } };
}

/** Modest requirements for short helper containers (bucket creation, connection checks). */
export const helperResources: Resources = { cpuRequest: "50m", memoryRequest: "128Mi", cpuLimit: "500m", memoryLimit: "512Mi" };

export function secretEnv(name: string, secretName: string, key: string): k8s.types.input.core.v1.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}

/** Key of the MLflow password in the Secret a tracking client (trainer, model server) reads it from. */
export const trackingPasswordKey = "tracking-password";

/** A shared env plan as Kubernetes env: the plain values, then each secret by secretKeyRef to its key in `secretName`. */
export function planEnv<S extends string>(plan: EnvPlan<S>, secretName: string, keyOf: Readonly<Record<S, string>>): k8s.types.input.core.v1.EnvVar[] {
  return [
    ...Object.entries(plan.env).map(([name, value]) => ({ name, value })),
    ...Object.entries<S>(plan.secretEnv).map(([name, secret]) => secretEnv(name, secretName, keyOf[secret])),
  ];
}

/** MLflow basic-auth login of a client: the user in plain text, the password by secretKeyRef. */
export function trackingCredentialEnv(credentials?: { readonly username: string; readonly secretName: string }): k8s.types.input.core.v1.EnvVar[] {
  if (!credentials) return [];
  return planEnv(mlflowLoginEnv(credentials.username), credentials.secretName, { trackingPassword: trackingPasswordKey });
}

/** In-cluster DNS name of a Service. */
export function serviceHost(serviceName: string, namespace: string): string {
  return `${serviceName}.${namespace}.svc.cluster.local`;
}
