import type { StackConfig } from "../../config";
import { toKubeObject } from "./postureModel";
import { topologyViolations } from "./postureTopology";
import { workloadViolations } from "./postureWorkloads";

/**
 * Production-posture checks over rendered manifests (e.g. the YAML `renderYamlToDirectory` writes),
 * so the rules hold for what would really be applied, not for what the code meant to build.
 */

export const postureRules = [
  "resources",
  "pinned-image",
  "run-as-non-root",
  "no-privilege-escalation",
  "drop-capabilities",
  "probes",
  "stateful-storage",
  "no-plaintext-credentials",
  "indexed-training-job",
  "serving-rollout",
  "service-selects-one-workload",
  "ingress-routes-serving",
  "autoscaling",
  "network-policy",
] as const;
export type PostureRule = (typeof postureRules)[number];

export interface Violation {
  readonly kind: string;
  readonly name: string;
  readonly rule: PostureRule;
  readonly detail: string;
}

/** What the stack config promises; a rule with no expectation checks internal consistency only. */
export interface PostureExpectations {
  /** training.workers: the training Job must exist with this many completions. */
  readonly workers?: number;
  /** serving.autoscaling is set: HPA and PDB must exist (or must not, when false). */
  readonly autoscaling?: boolean;
  /** serving.ingress: the host must route to the serving Service (with TLS when tls). */
  readonly ingress?: { readonly host: string; readonly tls: boolean };
  /** Only this namespace (besides the serving one) may reach the model servers; default ingress-nginx. */
  readonly ingressControllerNamespace?: string;
}

/** The expectations a parsed stack config implies; `workers` is the number of shards that actually run. */
export function postureExpectationsFor(config: Pick<StackConfig, "serving" | "kubernetes">, workers: number): PostureExpectations {
  const { ingress, autoscaling } = config.serving;
  return {
    workers,
    autoscaling: autoscaling !== undefined,
    ...(ingress ? { ingress: { host: ingress.host, tls: ingress.tlsSecret !== undefined } } : {}),
    ingressControllerNamespace: config.kubernetes.ingressControllerNamespace,
  };
}

export function checkPosture(manifests: readonly unknown[], expect: PostureExpectations = {}): Violation[] {
  const objects = manifests.flatMap((m) => {
    const obj = toKubeObject(m);
    return obj ? [obj] : [];
  });
  return [...workloadViolations(objects, expect), ...topologyViolations(objects, expect)];
}

export function formatViolation(v: Violation): string {
  return `${v.kind}/${v.name}: ${v.rule}: ${v.detail}`;
}
