import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { ModelServing, ModelServingArgs } from "../interfaces";
import { builtImageRef } from "../shared/images";
import { checkedFor } from "../shared/resourceError";
import { trackingPasswordSecret } from "./clientSecret";
import { buildWith, fromManifest } from "./manifestArgs";
import { childResourceName, roles, objectLabels, validateInstanceName } from "./meta";
import {
  buildServingAutoscaler,
  buildServingDeployment,
  buildServingDisruptionBudget,
  buildServingIngress,
  buildServingNetworkPolicy,
  buildServingService,
  servingApiKeyKey,
  servingDeploymentIgnoreChanges,
  servingEndpoint,
} from "./servingManifests";

export interface KubernetesModelServingArgs extends ModelServingArgs {
  readonly namespace: pulumi.Input<string>;
  /** Namespace of the ingress controller, the only outside namespace the NetworkPolicy admits; default ingress-nginx. */
  readonly ingressControllerNamespace?: string;
}

export function validateServingArgs(args: KubernetesModelServingArgs): void {
  const { serving } = args;
  if (typeof args.modelUri === "string" && !args.modelUri.startsWith("models:/")) {
    throw new Error(`KubernetesModelServing: modelUri '${args.modelUri}' must be a registry URI such as models:/<name>@champion`);
  }
  if (serving.autoscaling && serving.autoscaling.minReplicas > serving.autoscaling.maxReplicas) {
    throw new Error("KubernetesModelServing: serving.autoscaling.minReplicas must not exceed maxReplicas");
  }
  if (serving.ingress && !/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(serving.ingress.host)) {
    throw new Error(`KubernetesModelServing: serving.ingress.host '${serving.ingress.host}' must be a lower-case DNS name such as models.example.com`);
  }
}

/**
 * The champion behind a Service: a Deployment that rolls one pod at a time and never drops below its
 * replica count, an Ingress when a host is configured, and an HPA plus PodDisruptionBudget when
 * autoscaling is set (the Deployment is created at the HPA's minimum, so deploy returns with that many
 * Ready pods, and its count is the HPA's from then on).
 */
export class KubernetesModelServing extends pulumi.ComponentResource implements ModelServing {
  readonly endpoint: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;

  constructor(name: string, args: KubernetesModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:ModelServing", name, {}, opts);
    checkedFor(this, () => {
      validateInstanceName("KubernetesModelServing", name);
      validateServingArgs(args);
    });
    const { serving } = args;
    const child = { parent: this };
    const namespace = pulumi.output(args.namespace);
    const image = args.image ?? builtImageRef(args.images, "serving");
    const common = (ns: string) => ({ instance: name, namespace: ns, serving });

    const credentials = args.trackingCredentials;
    const passwordSecret = trackingPasswordSecret(name, { namespace, labels: objectLabels(name, "model-server", roles.modelServer), credentials }, this);
    const apiKeySecret =
      args.apiKey === undefined
        ? undefined
        : new k8s.core.v1.Secret(
            childResourceName(name, "api-key"),
            {
              metadata: { namespace, labels: objectLabels(name, "model-server", roles.modelServer) },
              type: "Opaque",
              stringData: { [servingApiKeyKey]: pulumi.secret(args.apiKey) },
            },
            child,
          );

    const deployment = new k8s.apps.v1.Deployment(
      childResourceName(name, "server"),
      fromManifest(
        buildWith(
          {
            ns: namespace,
            image,
            modelUri: args.modelUri,
            modelVersion: args.modelVersion ?? "",
            trackingUri: args.trackingUri,
            secret: passwordSecret?.metadata.name ?? "",
            apiKeySecret: apiKeySecret?.metadata.name ?? "",
          },
          (r) =>
            buildServingDeployment({
              ...common(r.ns),
              image: r.image,
              modelUri: r.modelUri,
              modelVersion: r.modelVersion,
              trackingUri: r.trackingUri,
              credentials: credentials ? { username: credentials.username, secretName: r.secret } : undefined,
              ...(r.apiKeySecret ? { apiKeySecretName: r.apiKeySecret } : {}),
              workers: args.workers,
            }),
        ),
      ),
      { ...child, ignoreChanges: servingDeploymentIgnoreChanges(serving) },
    );
    const service = new k8s.core.v1.Service(childResourceName(name, "server"), fromManifest(namespace.apply((ns) => buildServingService(common(ns)))), child);
    new k8s.networking.v1.NetworkPolicy(
      childResourceName(name, "server"),
      fromManifest(namespace.apply((ns) => buildServingNetworkPolicy({ ...common(ns), ingressControllerNamespace: args.ingressControllerNamespace ?? "ingress-nginx" }))),
      child,
    );
    const ingress = serving.ingress
      ? new k8s.networking.v1.Ingress(
          childResourceName(name, "server"),
          fromManifest(buildWith({ ns: namespace, svc: service.metadata.name }, (r) => buildServingIngress({ ...common(r.ns), serviceName: r.svc }))),
          child,
        )
      : undefined;
    if (serving.autoscaling) {
      new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        childResourceName(name, "server"),
        fromManifest(buildWith({ ns: namespace, deployment: deployment.metadata.name }, (r) => buildServingAutoscaler({ ...common(r.ns), deploymentName: r.deployment }))),
        child,
      );
      new k8s.policy.v1.PodDisruptionBudget(childResourceName(name, "server"), fromManifest(namespace.apply((ns) => buildServingDisruptionBudget(common(ns)))), child);
    }

    this.serviceName = service.metadata.name;
    // Ready replicas and a routed Ingress come before the endpoint, so callers can use it right away.
    this.endpoint = pulumi
      .all([namespace, service.metadata.name, deployment.id, ingress?.id ?? ""])
      .apply(([ns, svc]) => servingEndpoint({ serving, serviceName: svc, namespace: ns }));
    this.registerOutputs({ endpoint: this.endpoint, serviceName: this.serviceName });
  }
}
