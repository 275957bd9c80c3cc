import type { StackConfig } from "../../../config";
import { toKubeObject } from "./postureModel";
import { topologyViolations } from "./postureTopology";
import { workloadViolations } from "./postureWorkloads";
import type { PostureExpectations, Violation } from "./postureTypes";

/**
 * Production-posture checks over rendered manifests (e.g. the YAML `renderYamlToDirectory` writes),
 * so the rules hold for what would really be applied, not for what the code meant to build.
 */

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
