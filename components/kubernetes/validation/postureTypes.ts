/**
 * The vocabulary every posture check shares: rule names, what a violation says and what a stack
 * config promises. Kept apart from the checks so the rule files depend on it, not on each other.
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
