import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childResourceName, type Labels, trackingPasswordKey } from "./meta";

/**
 * The basic-auth password of an MLflow client in its own Secret, so workloads get it by secretKeyRef;
 * undefined when MLflow runs without auth.
 */
export function trackingPasswordSecret(
  name: string,
  p: { namespace: pulumi.Input<string>; labels: Labels; credentials?: { readonly password: pulumi.Input<string> } },
  parent: pulumi.Resource,
): k8s.core.v1.Secret | undefined {
  if (!p.credentials) return undefined;
  return new k8s.core.v1.Secret(
    childResourceName(name, "tracking"),
    { metadata: { namespace: p.namespace, labels: p.labels }, type: "Opaque", stringData: { [trackingPasswordKey]: pulumi.secret(p.credentials.password) } },
    { parent },
  );
}
