import type * as k8s from "@pulumi/kubernetes";
import type { Labels } from "./meta";

export interface IngressPolicyParams {
  readonly namespace: string;
  readonly labels: Labels;
  /** The pods the policy protects. */
  readonly podSelector: Labels;
  /** Who may connect: pods of this namespace by labels, or whole namespaces by name. */
  readonly allowPods?: readonly Labels[];
  readonly allowNamespaces?: readonly string[];
  readonly ports: readonly number[];
}

/**
 * An ingress-only NetworkPolicy. Listing peers explicitly means everything else is refused once the
 * policy selects the pods; egress stays open because the workloads call MLflow, S3 and DNS.
 */
export function buildIngressPolicy(p: IngressPolicyParams): k8s.types.input.networking.v1.NetworkPolicy {
  const from: k8s.types.input.networking.v1.NetworkPolicyPeer[] = [
    ...(p.allowPods ?? []).map((matchLabels) => ({ podSelector: { matchLabels: { ...matchLabels } } })),
    ...(p.allowNamespaces ?? []).map((ns) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } })),
  ];
  if (from.length === 0) throw new Error("buildIngressPolicy: at least one allowed peer is required (an empty 'from' would admit everyone)");
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: p.namespace, labels: { ...p.labels } },
    spec: {
      podSelector: { matchLabels: { ...p.podSelector } },
      policyTypes: ["Ingress"],
      ingress: [{ from, ports: p.ports.map((port) => ({ protocol: "TCP", port })) }],
    },
  };
}
