import type * as k8s from "@pulumi/kubernetes";
import { type Labels, podSecurityContext, secretDigestAnnotation } from "./meta";

export interface SingleReplicaStoreParams {
  readonly namespace: string;
  readonly labels: Labels;
  readonly selector: Labels;
  /** The Service that gives the pod its stable DNS name. */
  readonly serviceName: string;
  readonly userId: number;
  readonly container: k8s.types.input.core.v1.Container;
  readonly volumes?: k8s.types.input.core.v1.Volume[];
  readonly storageSize: string;
  readonly storageClass?: string;
  /** Digest of the Secret values the pod reads: a new one rolls the pod (see secretDigest). */
  readonly secretDigest: string;
}

/** A one-replica StatefulSet whose `data` volume comes from a claim template, so the data outlives pods. */
export function buildSingleReplicaStore(p: SingleReplicaStoreParams): k8s.types.input.apps.v1.StatefulSet {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { namespace: p.namespace, labels: p.labels },
    spec: {
      serviceName: p.serviceName,
      replicas: 1,
      selector: { matchLabels: p.selector },
      template: {
        metadata: { labels: p.labels, annotations: { [secretDigestAnnotation]: p.secretDigest } },
        spec: { securityContext: podSecurityContext(p.userId), containers: [p.container], ...(p.volumes ? { volumes: p.volumes } : {}) },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(p.storageClass ? { storageClassName: p.storageClass } : {}),
            resources: { requests: { storage: p.storageSize } },
          },
        },
      ],
    },
  };
}
