import type * as k8s from "@pulumi/kubernetes";
import type { ServingConfig } from "../../config";
import { mlflowClientVars } from "../shared/mlflowClientEnv";
import { buildIngressPolicy } from "./networkPolicy";
import {
  appUserId,
  containerSecurityContext,
  modelVersionAnnotation,
  podSecurityContext,
  resourceRequirements,
  roles,
  trackingCredentialEnv,
  podSelector,
  serviceHost,
  objectLabels,
} from "./meta";
import { buildWorkloadService } from "./service";

/** The model server inside images/serving; it reads MODEL_URI, MLFLOW_TRACKING_URI, HOST, PORT and REPLICA_ID. */
export const servingCommand = ["python", "/app/server.py"] as const;

export interface ServingParams {
  readonly instance: string;
  readonly namespace: string;
  readonly image: string;
  readonly serving: ServingConfig;
  readonly modelUri: string;
  readonly modelVersion: string;
  readonly trackingUri: string;
  readonly credentials?: { readonly username: string; readonly secretName: string };
  /** serving.auth: the Secret holding the inference API key under `servingApiKeyKey`. */
  readonly apiKeySecretName?: string;
  /** Worker processes per pod (SERVING_WORKERS); default 1. */
  readonly workers?: number;
}

/** The key of the API-key Secret's entry. */
export const servingApiKeyKey = "api-key";

export const servingSelector = (instance: string) => podSelector(instance, "model-server", roles.modelServer);
const servingLabels = (instance: string) => objectLabels(instance, "model-server", roles.modelServer);

/** The replica count the Deployment is created with: the HPA's minimum when autoscaling. */
export function initialReplicas(serving: ServingConfig): number {
  return serving.autoscaling?.minReplicas ?? serving.replicas;
}

/**
 * With an HPA, `spec.replicas` is set at creation only. Later updates keep the live count: the provider
 * drops the field from its server-side apply once the HPA (the `scale` subresource) owns it, so a new
 * champion or config change never scales the Deployment back to the minimum.
 */
export function servingDeploymentIgnoreChanges(serving: ServingConfig): string[] {
  return serving.autoscaling ? ["spec.replicas"] : [];
}

export function buildServingDeployment(p: ServingParams): k8s.types.input.apps.v1.Deployment {
  const labels = servingLabels(p.instance);
  const { serving } = p;
  const env: k8s.types.input.core.v1.EnvVar[] = [
    { name: "MODEL_URI", value: p.modelUri },
    { name: mlflowClientVars.trackingUri, value: p.trackingUri },
    { name: "HOST", value: "0.0.0.0" },
    { name: "PORT", value: String(serving.port) },
    // The pod name tells replicas apart in responses and logs.
    { name: "REPLICA_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "PYTHONUNBUFFERED", value: "1" },
    { name: "SERVING_WORKERS", value: String(p.workers ?? 1) },
    ...trackingCredentialEnv(p.credentials),
    // By secretKeyRef: the key never appears in the pod spec, the manifests or `kubectl describe`.
    ...(p.apiKeySecretName ? [{ name: "SERVING_API_KEY", valueFrom: { secretKeyRef: { name: p.apiKeySecretName, key: servingApiKeyKey } } }] : []),
  ];
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { namespace: p.namespace, labels },
    spec: {
      // With an HPA the Deployment starts at its minimum, so deploy waits for that many Ready pods (without
      // it Kubernetes starts 1 and the HPA adds the rest after deploy returned); the component then leaves
      // the count to the HPA (servingDeploymentIgnoreChanges).
      replicas: initialReplicas(serving),
      selector: { matchLabels: servingSelector(p.instance) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        // A new champion changes the annotation, which rolls the pods so they load it.
        metadata: { labels, annotations: { [modelVersionAnnotation]: p.modelVersion } },
        spec: {
          securityContext: podSecurityContext(appUserId),
          // SIGTERM: the server serves its drain time (SERVING_DRAIN_SECONDS, 3 s) and finishes in-flight requests (up to 30 s more).
          terminationGracePeriodSeconds: 45,
          containers: [
            {
              name: "model-server",
              image: p.image,
              command: [...servingCommand],
              ports: [{ name: "http", containerPort: serving.port }],
              env,
              resources: resourceRequirements(serving.resources),
              securityContext: containerSecurityContext(),
              // Loading a model from the registry can take minutes; the startup probe covers it so liveness stays strict.
              startupProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 10, failureThreshold: 30 },
              // /ping is 503 while loading, draining or over capacity: one failed probe takes the pod out of the Service.
              readinessProbe: { httpGet: { path: "/ping", port: "http" }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 1 },
              livenessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 5 },
            },
          ],
        },
      },
    },
  };
}

export function buildServingService(p: Pick<ServingParams, "instance" | "namespace" | "serving">): k8s.types.input.core.v1.Service {
  return buildWorkloadService({ namespace: p.namespace, labels: servingLabels(p.instance), selector: servingSelector(p.instance), portName: "http", port: p.serving.port });
}

export function buildServingIngress(p: Pick<ServingParams, "instance" | "namespace" | "serving"> & { serviceName: string }): k8s.types.input.networking.v1.Ingress {
  const ingress = p.serving.ingress;
  if (!ingress) throw new Error("buildServingIngress: serving.ingress is not set");
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { namespace: p.namespace, labels: servingLabels(p.instance) },
    spec: {
      ingressClassName: ingress.className,
      rules: [{ host: ingress.host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: p.serviceName, port: { number: p.serving.port } } } }] } }],
      ...(ingress.tlsSecret ? { tls: [{ hosts: [ingress.host], secretName: ingress.tlsSecret }] } : {}),
    },
  };
}

export function buildServingAutoscaler(
  p: Pick<ServingParams, "instance" | "namespace" | "serving"> & { deploymentName: string },
): k8s.types.input.autoscaling.v2.HorizontalPodAutoscaler {
  const autoscaling = p.serving.autoscaling;
  if (!autoscaling) throw new Error("buildServingAutoscaler: serving.autoscaling is not set");
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { namespace: p.namespace, labels: servingLabels(p.instance) },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: p.deploymentName },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: autoscaling.targetCpuPercent } } }],
    },
  };
}

/** One replica at a time may be evicted, so node drains proceed without emptying the service. */
export function buildServingDisruptionBudget(p: Pick<ServingParams, "instance" | "namespace">): k8s.types.input.policy.v1.PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { namespace: p.namespace, labels: servingLabels(p.instance) },
    spec: { maxUnavailable: 1, selector: { matchLabels: servingSelector(p.instance) } },
  };
}

export function buildServingNetworkPolicy(
  p: Pick<ServingParams, "instance" | "namespace" | "serving"> & { ingressControllerNamespace: string },
): k8s.types.input.networking.v1.NetworkPolicy {
  return buildIngressPolicy({
    namespace: p.namespace,
    labels: servingLabels(p.instance),
    podSelector: servingSelector(p.instance),
    // An empty pod selector without a namespace selector means "any pod in this namespace".
    allowPods: [{}],
    allowNamespaces: [p.ingressControllerNamespace],
    ports: [p.serving.port],
  });
}

/** What clients call: the Ingress host when there is one, else the in-cluster Service. */
export function servingEndpoint(p: { serving: ServingConfig; serviceName: string; namespace: string }): string {
  const ingress = p.serving.ingress;
  if (ingress) return `${ingress.tlsSecret ? "https" : "http"}://${ingress.host}`;
  return `http://${serviceHost(p.serviceName, p.namespace)}:${p.serving.port}`;
}
