import type * as k8s from "@pulumi/kubernetes";
import type { Labels } from "./meta";

export interface WorkloadServiceParams {
  readonly namespace: string;
  readonly labels: Labels;
  /** Exactly the selector labels of one workload's pods. */
  readonly selector: Labels;
  /** Named container port the Service targets, so a port change in the pod template needs no Service change. */
  readonly portName: string;
  readonly port: number;
  /** A headless Service gives a StatefulSet's pods stable DNS names instead of a virtual IP. */
  readonly headless?: boolean;
}

export function buildWorkloadService(p: WorkloadServiceParams): k8s.types.input.core.v1.Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: p.namespace, labels: p.labels },
    spec: { ...(p.headless ? { clusterIP: "None" } : {}), selector: p.selector, ports: [{ name: p.portName, port: p.port, targetPort: p.portName }] },
  };
}
