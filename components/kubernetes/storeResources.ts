import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { buildWith, fromManifest } from "./manifestArgs";
import type { Labels } from "./meta";
import { movedChild } from "./movedChild";
import { buildIngressPolicy } from "./networkPolicy";

/** How one in-stack store is built: its manifests, and who may reach it on which port. */
export interface StoreResourcesParams {
  /** Pulumi name of the three objects (and the base of their generated Kubernetes names). */
  readonly resourceName: string;
  readonly namespace: pulumi.Output<string>;
  readonly secretName: pulumi.Input<string>;
  /** Digest of the Secret values the store reads (trackingSecret.ts `secretDigestOf`). */
  readonly secretDigest: pulumi.Input<string>;
  readonly service: (namespace: string) => k8s.types.input.core.v1.Service;
  readonly statefulSet: (refs: { namespace: string; serviceName: string; secretName: string; secretDigest: string }) => k8s.types.input.apps.v1.StatefulSet;
  readonly policy: { readonly labels: Labels; readonly podSelector: Labels; readonly allowPods: readonly Labels[]; readonly port: number };
}

/**
 * A single-replica store as both in-stack stores run it: a headless Service, the StatefulSet behind it
 * and a NetworkPolicy that admits only the store's clients. Children of `component`, moved there from
 * `formerParent` (see movedChild).
 */
export function deployStoreResources(component: pulumi.ComponentResource, formerParent: pulumi.Resource | undefined, p: StoreResourcesParams) {
  const child = movedChild(component, formerParent);
  const service = new k8s.core.v1.Service(p.resourceName, fromManifest(p.namespace.apply(p.service)), child);
  const statefulSet = new k8s.apps.v1.StatefulSet(
    p.resourceName,
    fromManifest(buildWith({ namespace: p.namespace, serviceName: service.metadata.name, secretName: p.secretName, secretDigest: p.secretDigest }, p.statefulSet)),
    child,
  );
  const policy = p.policy;
  new k8s.networking.v1.NetworkPolicy(
    p.resourceName,
    fromManifest(
      p.namespace.apply((ns) =>
        buildIngressPolicy({ namespace: ns, labels: policy.labels, podSelector: policy.podSelector, allowPods: [...policy.allowPods], ports: [policy.port] }),
      ),
    ),
    child,
  );
  return { service, statefulSet };
}
