import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { kubernetesSchema, resourcesSchema, servingSchema, trainingSchema } from "../../config";
import {
  buildBucketJob,
  buildIndexedJob,
  buildMlflowDeployment,
  buildMlflowService,
  buildObjectStoreService,
  buildObjectStoreStatefulSet,
  buildPostgresService,
  buildPostgresStatefulSet,
  buildPrepareJob,
  buildServingAutoscaler,
  buildServingDeployment,
  buildServingDisruptionBudget,
  buildServingIngress,
  buildServingNetworkPolicy,
  buildServingService,
  buildShardConfigMap,
  buildIngressPolicy,
  checkPosture,
  mlflowSelector,
  objectStoreSelector,
  bucketInitSelector,
  postgresSelector,
  type PostureExpectations,
  postureExpectationsFor,
  type PostureRule,
  readManifests,
} from "../../components/kubernetes";
import { buildShardSpecs } from "../../components/shared";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Manifest = { [key: string]: Json };

const ns = "mlops";
const resources = resourcesSchema.parse({});
const training = trainingSchema.parse({ workers: 3, retries: 2, searchSpace: { n_estimators: { values: [10, 20, 30, 40] } } });
const shards = buildShardSpecs("prod", training);
const studyId = shards[0]?.studyId ?? "";
const servingWith = (extra: object) => servingSchema.parse({ replicas: 3, ...extra });
const fullServing = servingWith({ ingress: { host: "models.example.com", tlsSecret: "models-tls" }, autoscaling: { minReplicas: 3, maxReplicas: 6 } });

/** Mimics what the engine renders: plain JSON with the auto-generated names filled in. */
function named(name: string, manifest: object): Manifest {
  const plain = JSON.parse(JSON.stringify(manifest)) as Manifest;
  const metadata = plain.metadata;
  plain.metadata = { ...(typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? metadata : {}), name };
  return plain;
}

function goodManifests(serving = fullServing, storeImage = "minio/minio:RELEASE.2025-04-22T22-12-26Z"): Manifest[] {
  const t = "prod-tracking";
  const mlflow = {
    instance: t,
    namespace: ns,
    image: "registry.example.com/mlops/mlops-mlflow:0.1.0",
    port: 5000,
    resources,
    database: { host: `pg.${ns}.svc.cluster.local`, port: 5432, database: "mlflow", user: "mlflow", sslMode: "disable" as const },
    artifacts: { destination: "s3://mlflow/mlflow", endpointUrl: `http://store.${ns}.svc.cluster.local:9000`, region: "us-east-1", hasCredentials: true },
    secretName: "creds",
    secretDigest: "0".repeat(64),
    serviceName: "mlflow",
    basicAuth: true,
  };
  const store = { instance: t, namespace: ns, image: storeImage, storageSize: "20Gi", resources, serviceName: "store", secretName: "creds", secretDigest: "0".repeat(64) };
  const job = {
    instance: "prod-training",
    namespace: ns,
    studyId,
    image: "registry.example.com/mlops/mlops-trainer:0.1.0",
    trackingUri: `http://mlflow.${ns}.svc.cluster.local:5000`,
    workers: shards.length,
    retries: 2,
    resources,
    configMapName: "shards",
    credentials: { username: "admin", secretName: "train-creds" },
    ttlSecondsAfterFinished: 86400,
    maxFailedIndexes: 0,
  };
  const s = "prod-serving";
  const servingParams = { instance: s, namespace: ns, serving };
  return [
    named("pg", buildPostgresService({ instance: t, namespace: ns })),
    named(
      "pg-sts",
      buildPostgresStatefulSet({
        instance: t,
        namespace: ns,
        image: "postgres:16.4",
        database: "mlflow",
        user: "mlflow",
        storageSize: "10Gi",
        resources,
        serviceName: "pg",
        secretName: "creds",
        secretDigest: "0".repeat(64),
      }),
    ),
    named("pg-policy", buildIngressPolicy({ namespace: ns, labels: postgresSelector(t), podSelector: postgresSelector(t), allowPods: [mlflowSelector(t)], ports: [5432] })),
    named("store", buildObjectStoreService({ instance: t, namespace: ns })),
    named("store-sts", buildObjectStoreStatefulSet(store)),
    named(
      "store-policy",
      buildIngressPolicy({
        namespace: ns,
        labels: objectStoreSelector(t),
        podSelector: objectStoreSelector(t),
        allowPods: [mlflowSelector(t), bucketInitSelector(t)],
        ports: [9000],
      }),
    ),
    named("bucket", buildBucketJob({ instance: t, namespace: ns, image: mlflow.image, bucket: "mlflow", endpointUrl: mlflow.artifacts.endpointUrl, secretName: "creds" })),
    named("mlflow", buildMlflowService(mlflow)),
    named("mlflow-deploy", buildMlflowDeployment(mlflow)),
    named("shards", buildShardConfigMap({ instance: "prod-training", namespace: ns, shards })),
    named("prepare", buildPrepareJob(job)),
    named("workers", buildIndexedJob(job)),
    named(
      "serving-deploy",
      buildServingDeployment({
        ...servingParams,
        image: "registry.example.com/mlops/mlops-serving:0.1.0",
        modelUri: "models:/m@champion",
        modelVersion: "3",
        trackingUri: job.trackingUri,
      }),
    ),
    named("serving", buildServingService(servingParams)),
    named("serving-policy", buildServingNetworkPolicy({ ...servingParams, ingressControllerNamespace: "ingress-nginx" })),
    ...(serving.ingress ? [named("serving-ingress", buildServingIngress({ ...servingParams, serviceName: "serving" }))] : []),
    ...(serving.autoscaling
      ? [named("serving-hpa", buildServingAutoscaler({ ...servingParams, deploymentName: "serving-deploy" })), named("serving-pdb", buildServingDisruptionBudget(servingParams))]
      : []),
  ];
}

const fullExpectations: PostureExpectations = { workers: shards.length, autoscaling: true, ingress: { host: "models.example.com", tls: true } };

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The JSON node at a dotted path (numeric segments index arrays); throws if the fixture lacks it. */
function node(root: Json, dotted: string): { [key: string]: Json } {
  const found = dotted.split(".").reduce<Json | undefined>((at, key) => (Array.isArray(at) ? at[Number(key)] : isObject(at) ? at[key] : undefined), root);
  if (!isObject(found)) throw new Error(`fixture has no object at ${dotted}`);
  return found;
}

function byName(manifests: Manifest[], name: string): Manifest {
  const found = manifests.find((m) => isObject(m.metadata) && m.metadata.name === name);
  if (!found) throw new Error(`fixture has no ${name}`);
  return found;
}

/** Cases that change one field of one object of the good set in place. */
const set = (name: string, dotted: string, key: string, value: Json) => (m: Manifest[]) => {
  node(byName(m, name), dotted)[key] = value;
  return m;
};
const unset = (name: string, dotted: string, key: string) => (m: Manifest[]) => {
  Reflect.deleteProperty(node(byName(m, name), dotted), key);
  return m;
};
const both =
  (...steps: Array<(m: Manifest[]) => Manifest[]>) =>
  (m: Manifest[]) =>
    steps.reduce((acc, step) => step(acc), m);

const without = (manifests: Manifest[], name: string) => manifests.filter((m) => !(isObject(m.metadata) && m.metadata.name === name));
const rulesOf = (manifests: Manifest[], expect: PostureExpectations = fullExpectations) => new Set(checkPosture(manifests, expect).map((v) => v.rule));

describe("posture of the manifests our builders produce", () => {
  it("derives its expectations from the stack config", () => {
    const config = { serving: fullServing, kubernetes: kubernetesSchema.parse({ ingressControllerNamespace: "ingress-system" }) };
    expect(postureExpectationsFor(config, 3)).toEqual({
      workers: 3,
      autoscaling: true,
      ingress: { host: "models.example.com", tls: true },
      ingressControllerNamespace: "ingress-system",
    });
    expect(postureExpectationsFor({ ...config, serving: servingWith({ ingress: { host: "m.internal" } }) }, 2)).toEqual({
      workers: 2,
      autoscaling: false,
      ingress: { host: "m.internal", tls: false },
      ingressControllerNamespace: "ingress-system",
    });
  });

  it("finds no violation with ingress, TLS and autoscaling", () => {
    expect(checkPosture(goodManifests(), fullExpectations)).toEqual([]);
  });

  it("finds no violation without ingress or autoscaling (SeaweedFS object store)", () => {
    const manifests = goodManifests(servingWith({}), "chrislusf/seaweedfs:3.80");
    expect(manifests.map((m) => m.kind)).not.toContain("Ingress");
    expect(checkPosture(manifests, { workers: shards.length, autoscaling: false })).toEqual([]);
  });

  it("reads rendered YAML files (multi-document, List kinds) back into the same objects", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "posture-"));
    const [first, ...rest] = goodManifests();
    fs.mkdirSync(path.join(dir, "1-manifest"));
    fs.writeFileSync(path.join(dir, "1-manifest", "a.yaml"), stringify(first));
    fs.writeFileSync(
      path.join(dir, "b.yaml"),
      `${stringify({ apiVersion: "v1", kind: "List", items: rest.slice(0, 3) })}---\n${rest
        .slice(3)
        .map((m) => stringify(m))
        .join("---\n")}`,
    );
    const read = readManifests(dir);
    expect(read).toHaveLength(goodManifests().length);
    expect(checkPosture(read, fullExpectations)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/** Each case breaks one thing in a good set; the named rule must report it. */
const pod = "spec.template.spec";
const brokenCases: Array<{ rule: PostureRule; what: string; breakIt: (m: Manifest[]) => Manifest[]; expect?: PostureExpectations }> = [
  { rule: "resources", what: "a container without limits", breakIt: unset("mlflow-deploy", `${pod}.containers.0.resources`, "limits") },
  { rule: "resources", what: "an init container without resources", breakIt: unset("mlflow-deploy", `${pod}.initContainers.1`, "resources") },
  { rule: "pinned-image", what: "a latest tag", breakIt: set("pg-sts", `${pod}.containers.0`, "image", "postgres:latest") },
  { rule: "pinned-image", what: "an untagged image", breakIt: set("workers", `${pod}.containers.0`, "image", "registry.example.com/mlops/mlops-trainer") },
  {
    rule: "run-as-non-root",
    what: "no runAsNonRoot anywhere",
    breakIt: both(unset("serving-deploy", `${pod}.securityContext`, "runAsNonRoot"), unset("serving-deploy", `${pod}.containers.0.securityContext`, "runAsNonRoot")),
  },
  { rule: "run-as-non-root", what: "runAsUser 0", breakIt: set("bucket", `${pod}.securityContext`, "runAsUser", 0) },
  { rule: "no-privilege-escalation", what: "privilege escalation allowed", breakIt: set("workers", `${pod}.containers.0.securityContext`, "allowPrivilegeEscalation", true) },
  { rule: "drop-capabilities", what: "capabilities kept", breakIt: set("store-sts", `${pod}.containers.0.securityContext.capabilities`, "drop", []) },
  { rule: "probes", what: "no liveness probe", breakIt: unset("serving-deploy", `${pod}.containers.0`, "livenessProbe") },
  { rule: "probes", what: "no readiness probe", breakIt: unset("pg-sts", `${pod}.containers.0`, "readinessProbe") },
  { rule: "stateful-storage", what: "PostgreSQL as a Deployment", breakIt: (m) => m.map((o) => (o === byName(m, "pg-sts") ? { ...o, kind: "Deployment" } : o)) },
  { rule: "stateful-storage", what: "an object store without claim templates", breakIt: unset("store-sts", "spec", "volumeClaimTemplates") },
  {
    rule: "no-plaintext-credentials",
    what: "a password as a plain env value",
    breakIt: set("mlflow-deploy", `${pod}.containers.0`, "env", [
      { name: "PGHOST", value: "pg" },
      { name: "PGPASSWORD", value: "hunter2" },
    ]),
  },
  {
    rule: "no-plaintext-credentials",
    what: "a password inside a URI argument",
    breakIt: set("mlflow-deploy", `${pod}.initContainers.1`, "command", ["python", "-c", "migrate", "postgresql://mlflow:hunter2@pg:5432/mlflow"]),
  },
  { rule: "indexed-training-job", what: "a NonIndexed Job", breakIt: set("workers", "spec", "completionMode", "NonIndexed") },
  { rule: "indexed-training-job", what: "parallelism below completions", breakIt: set("workers", "spec", "parallelism", 1) },
  { rule: "indexed-training-job", what: "no per-index backoff", breakIt: unset("workers", "spec", "backoffLimitPerIndex") },
  { rule: "indexed-training-job", what: "no TTL", breakIt: unset("workers", "spec", "ttlSecondsAfterFinished") },
  { rule: "indexed-training-job", what: "no topology spread", breakIt: unset("workers", pod, "topologySpreadConstraints") },
  { rule: "indexed-training-job", what: "completions != workers", breakIt: (m) => m, expect: { ...fullExpectations, workers: shards.length + 1 } },
  { rule: "indexed-training-job", what: "no training Job at all", breakIt: (m) => without(m, "workers") },
  { rule: "serving-rollout", what: "maxUnavailable 1", breakIt: set("serving-deploy", "spec.strategy.rollingUpdate", "maxUnavailable", 1) },
  { rule: "serving-rollout", what: "Recreate", breakIt: set("serving-deploy", "spec", "strategy", { type: "Recreate" }) },
  {
    rule: "service-selects-one-workload",
    what: "a selector matching every workload",
    breakIt: set("serving", "spec", "selector", { "app.kubernetes.io/part-of": "mlops-pipeline" }),
  },
  { rule: "service-selects-one-workload", what: "a selector matching nothing", breakIt: set("mlflow", "spec.selector", "app.kubernetes.io/instance", "other") },
  { rule: "ingress-routes-serving", what: "the host routed to MLflow", breakIt: set("serving-ingress", "spec.rules.0.http.paths.0.backend.service", "name", "mlflow") },
  { rule: "ingress-routes-serving", what: "a missing backend Service", breakIt: (m) => without(m, "serving") },
  { rule: "ingress-routes-serving", what: "a wrong backend port", breakIt: set("serving-ingress", "spec.rules.0.http.paths.0.backend.service.port", "number", 9999) },
  { rule: "ingress-routes-serving", what: "no TLS", breakIt: unset("serving-ingress", "spec", "tls") },
  { rule: "ingress-routes-serving", what: "no Ingress", breakIt: (m) => without(m, "serving-ingress") },
  { rule: "autoscaling", what: "no HPA though autoscaling is set", breakIt: (m) => without(m, "serving-hpa") },
  { rule: "autoscaling", what: "no PDB though autoscaling is set", breakIt: (m) => without(m, "serving-pdb") },
  { rule: "autoscaling", what: "an HPA without a PDB (no expectation)", breakIt: (m) => without(m, "serving-pdb"), expect: {} },
  { rule: "autoscaling", what: "an HPA though autoscaling is off", breakIt: (m) => m, expect: { ...fullExpectations, autoscaling: false } },
  { rule: "autoscaling", what: "minReplicas above maxReplicas", breakIt: set("serving-hpa", "spec", "minReplicas", 9) },
  { rule: "network-policy", what: "no policy for PostgreSQL", breakIt: (m) => without(m, "pg-policy") },
  { rule: "network-policy", what: "the store open to other namespaces", breakIt: set("store-policy", "spec.ingress.0.from.0", "namespaceSelector", {}) },
  // Trainers may reach it (the shared trial queue in database optuna); model servers never.
  {
    rule: "network-policy",
    what: "PostgreSQL open to the model servers",
    breakIt: set("pg-policy", "spec.ingress.0.from.0.podSelector.matchLabels", "app.kubernetes.io/component", "model-server"),
  },
  { rule: "network-policy", what: "an ingress rule without from", breakIt: unset("pg-policy", "spec.ingress.0", "from") },
  {
    rule: "network-policy",
    what: "serving open to another namespace",
    breakIt: set("serving-policy", "spec.ingress.0.from.1.namespaceSelector.matchLabels", "kubernetes.io/metadata.name", "default"),
  },
  { rule: "network-policy", what: "serving open to an ipBlock", breakIt: set("serving-policy", "spec.ingress.0.from.0", "ipBlock", { cidr: "0.0.0.0/0" }) },
];

describe("posture violations", () => {
  it.each(brokenCases)("$rule: reports $what", ({ rule, breakIt, expect: expectations }) => {
    const broken = breakIt(goodManifests());
    const rules = rulesOf(broken, expectations ?? fullExpectations);
    expect(rules).toContain(rule);
  });

  it("covers every rule with at least one broken case", async () => {
    const { postureRules } = await import("../../components/kubernetes");
    expect(new Set(brokenCases.map((c) => c.rule))).toEqual(new Set(postureRules));
  });

  it("names the offending object and explains the rule", () => {
    const broken = set("pg-sts", `${pod}.containers.0`, "image", "postgres:latest")(goodManifests());
    expect(checkPosture(broken, fullExpectations)).toEqual([{ kind: "StatefulSet", name: "pg-sts", rule: "pinned-image", detail: expect.stringContaining("postgres:latest") }]);
  });
});
