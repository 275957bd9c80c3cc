import type * as k8s from "@pulumi/kubernetes";
import type { Resources } from "../../config";
import { appUserId, containerSecurityContext, helperResources, podSecurityContext, resourceRequirements, roles, secretEnv, podSelector, objectLabels, planEnv } from "./meta";
import { buildSingleReplicaStore } from "./statefulSet";
import { objectStoreFlavor } from "../shared/images";
import { s3ClientEnv } from "../shared/mlflowClientEnv";
import { trackingSecretKeyOf, trackingSecretKeys } from "./trackingSecret";
import { buildWorkloadService } from "./service";

export const s3Port = 9000;
const objectStoreUserId = 1000;

export interface ObjectStoreParams {
  readonly instance: string;
  readonly namespace: string;
  readonly image: string;
  readonly storageSize: string;
  readonly storageClass?: string;
  readonly resources: Resources;
  readonly serviceName: string;
  readonly secretName: string;
  /** Digest of the access key pair (trackingSecret.ts `secretDigest`): a rotation restarts the pod. */
  readonly secretDigest: string;
}

export const objectStoreSelector = (instance: string) => podSelector(instance, "object-store", roles.objectStore);
export const bucketInitSelector = (instance: string) => podSelector(instance, "mlflow", roles.bucketInit);

export function buildObjectStoreService(p: Pick<ObjectStoreParams, "instance" | "namespace">): k8s.types.input.core.v1.Service {
  const labels = objectLabels(p.instance, "object-store", roles.objectStore);
  return buildWorkloadService({ namespace: p.namespace, labels, selector: objectStoreSelector(p.instance), portName: "s3", port: s3Port });
}

function serverContainer(p: ObjectStoreParams): k8s.types.input.core.v1.Container {
  const common = {
    name: "object-store",
    image: p.image,
    ports: [{ name: "s3", containerPort: s3Port }],
    resources: resourceRequirements(p.resources),
    securityContext: containerSecurityContext(),
  };
  if (objectStoreFlavor(p.image) === "minio") {
    return {
      ...common,
      command: ["minio"],
      args: ["server", "/data", "--address", `:${s3Port}`, "--console-address", ":9001"],
      env: [secretEnv("MINIO_ROOT_USER", p.secretName, trackingSecretKeys.s3AccessKeyId), secretEnv("MINIO_ROOT_PASSWORD", p.secretName, trackingSecretKeys.s3SecretAccessKey)],
      volumeMounts: [{ name: "data", mountPath: "/data" }],
      readinessProbe: { httpGet: { path: "/minio/health/ready", port: "s3" }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 6 },
      livenessProbe: { httpGet: { path: "/minio/health/live", port: "s3" }, initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 5 },
    };
  }
  return {
    ...common,
    command: ["weed"],
    args: ["server", "-dir=/data", "-ip.bind=0.0.0.0", "-s3", `-s3.port=${s3Port}`, "-s3.config=/etc/seaweedfs/s3.json"],
    volumeMounts: [
      { name: "data", mountPath: "/data" },
      { name: "s3-config", mountPath: "/etc/seaweedfs", readOnly: true },
    ],
    readinessProbe: { tcpSocket: { port: "s3" }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 6 },
    livenessProbe: { tcpSocket: { port: "s3" }, initialDelaySeconds: 30, periodSeconds: 30, failureThreshold: 5 },
  };
}

export function buildObjectStoreStatefulSet(p: ObjectStoreParams): k8s.types.input.apps.v1.StatefulSet {
  const seaweed = objectStoreFlavor(p.image) === "seaweedfs";
  return buildSingleReplicaStore({
    namespace: p.namespace,
    labels: objectLabels(p.instance, "object-store", roles.objectStore),
    selector: objectStoreSelector(p.instance),
    serviceName: p.serviceName,
    userId: objectStoreUserId,
    storageSize: p.storageSize,
    storageClass: p.storageClass,
    secretDigest: p.secretDigest,
    container: serverContainer(p),
    volumes: seaweed
      ? [{ name: "s3-config", secret: { secretName: p.secretName, defaultMode: 0o440, items: [{ key: trackingSecretKeys.seaweedS3Config, path: "s3.json" }] } }]
      : undefined,
  });
}

/** images/mlflow/create_bucket.py: idempotent (an existing bucket is fine) and waits while the store starts. */
export const createBucketCommand = ["python", "/app/create_bucket.py"] as const;

export interface BucketJobParams {
  readonly instance: string;
  readonly namespace: string;
  /** The MLflow image: it already carries boto3, so no extra client image is needed. */
  readonly image: string;
  readonly bucket: string;
  readonly endpointUrl: string;
  readonly secretName: string;
}

export function buildBucketJob(p: BucketJobParams): k8s.types.input.batch.v1.Job {
  const labels = objectLabels(p.instance, "mlflow", roles.bucketInit);
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { namespace: p.namespace, labels, annotations: { "pulumi.com/replaceUnready": "true" } },
    spec: {
      backoffLimit: 4,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          securityContext: podSecurityContext(appUserId),
          containers: [
            {
              name: "create-bucket",
              image: p.image,
              command: [...createBucketCommand],
              env: [
                { name: "BUCKET", value: p.bucket },
                { name: "BUCKET_WAIT_SECONDS", value: "300" },
                ...planEnv(s3ClientEnv({ endpointUrl: p.endpointUrl, hasCredentials: true }), p.secretName, trackingSecretKeyOf),
              ],
              resources: resourceRequirements(helperResources),
              securityContext: containerSecurityContext(),
            },
          ],
        },
      },
    },
  };
}
