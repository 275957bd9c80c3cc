import { z } from "zod";
import { bucketNameExpectation, isValidBucketName } from "./bucketName";
import { imageContract } from "./imageContract";
import { defaultKind, platforms, unsupportedReason } from "./platformSupport";
import { tasks } from "./scorers";
import { modelFamilies, type ResolvedModel, resolveModel, trainingModelProblems } from "./trainingModel";
import { featuresSchema } from "./trainingFeatures";
import { gridProblems } from "./searchSpaceRules";
import { type SecretKey, secretKeys } from "./stackSecrets";

export { secretKeys };

/** A field that renames one of the stack's secrets (config/stackSecrets.ts): its default is the secret's own key. */
const secretName = (key: SecretKey) => z.string().default(key);

/**
 * The `mlops:` namespace of a `Pulumi.<stack>.yaml`, as one zod schema.
 *
 * Every key has a default that suits the platform it is used on, so a stack file only names what it
 * changes. Components never see this raw shape's inputs: entry points parse once and pass the typed
 * result (`StackConfig`) down.
 */

/** Pinned versions the defaults refer to; images never use `latest`. */
export const defaultVersions = {
  mlflow: "3.6.0",
  postgresImage: "postgres:16.4",
  /** SeaweedFS (Apache-2.0) rather than MinIO (AGPL): nothing AGPL is shipped or defaulted to. */
  // The user-facing default (users run MinIO); SeaweedFS (chrislusf/seaweedfs) is the Apache-2.0 alternative we test with.
  objectStoreImage: "minio/minio:RELEASE.2025-04-22T22-12-26Z",
  loadBalancerImage: "nginx:1.27.2",
  imageTag: imageContract.defaultTag,
} as const;

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a DNS label: lower-case letters, digits and '-'")
  .max(63);

const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, "expected a Kubernetes quantity such as 500m, 2 or 1Gi");

/** An image reference that pins a tag or digest; `latest` and untagged images are refused. */
export const pinnedImage = z
  .string()
  .min(1)
  .refine((ref) => /@sha256:[0-9a-f]{64}$/.test(ref) || /:[\w][\w.-]{0,127}$/.test(ref.split("/").pop() ?? ""), {
    message: "expected an image with a pinned tag or digest, e.g. python:3.12-slim",
  })
  .refine((ref) => !/:latest$/.test(ref), { message: "expected a pinned tag, not 'latest'" });

export const resourcesSchema = z
  .object({
    cpuRequest: quantity.default("250m"),
    memoryRequest: quantity.default("512Mi"),
    cpuLimit: quantity.default("1"),
    memoryLimit: quantity.default("2Gi"),
  })
  .strict();
export type Resources = z.infer<typeof resourcesSchema>;

// ---------- tracking ----------

const sqliteDatabase = z.object({ kind: z.literal("sqlite"), path: z.string().default(".pipeline/mlflow/mlflow.db") }).strict();
const inStackDatabase = z
  .object({
    kind: z.literal("inStack"),
    image: pinnedImage.default(defaultVersions.postgresImage),
    database: z.string().default("mlflow"),
    user: z.string().default("mlflow"),
    storageSize: quantity.default("10Gi"),
  })
  .strict();
const externalDatabase = z
  .object({
    kind: z.literal("external"),
    host: z.string({ error: "expected the PostgreSQL host name" }).min(1, "expected the PostgreSQL host name"),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().default("mlflow"),
    user: z.string().default("mlflow"),
    /** Name of the stack secret (in the `mlops:` namespace) that holds the password. */
    passwordSecret: secretName("databasePassword"),
    sslMode: z.enum(["disable", "prefer", "require", "verify-full"]).default("prefer"),
    /** Create the database and role with @pulumi/postgresql (programs/tracking.ts: managedDatabase; needs the `databaseAdminPassword` secret). */
    manage: z.boolean().default(false),
    adminUser: z.string().default("postgres"),
  })
  .strict();
export const databaseSchema = z.discriminatedUnion("kind", [sqliteDatabase, inStackDatabase, externalDatabase]);
export type DatabaseConfig = z.infer<typeof databaseSchema>;

const bucketName = z.string().refine(isValidBucketName, `expected an S3 bucket name: ${bucketNameExpectation}`);
const localFolderStore = z.object({ kind: z.literal("localFolder"), path: z.string().default(".pipeline/mlflow/artifacts") }).strict();
const inStackObjectStore = z
  .object({
    kind: z.literal("inStack"),
    image: pinnedImage.default(defaultVersions.objectStoreImage),
    bucket: bucketName.default("mlflow"),
    storageSize: quantity.default("20Gi"),
  })
  .strict();
const s3ObjectStore = z
  .object({
    kind: z.literal("s3"),
    bucket: bucketName,
    prefix: z.string().default("mlflow"),
    region: z.string().default("us-east-1"),
    /** Any S3-compatible endpoint (SeaweedFS, MinIO, Ceph); omit for AWS S3. */
    endpoint: z.url().optional(),
    /** Create the bucket with @pulumi/aws (versioning, encryption, public access blocked). */
    create: z.boolean().default(false),
    /** Stack secrets that hold the access key pair; omit to use the ambient AWS credentials. */
    accessKeySecret: secretName("s3AccessKeyId"),
    secretKeySecret: secretName("s3SecretAccessKey"),
  })
  .strict();
export const objectStoreSchema = z.discriminatedUnion("kind", [localFolderStore, inStackObjectStore, s3ObjectStore]);
export type ObjectStoreConfig = z.infer<typeof objectStoreSchema>;

export const trackingSchema = z
  .object({
    mlflowVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, "expected an exact MLflow version such as 3.6.0")
      .default(defaultVersions.mlflow),
    port: z.number().int().min(1024).max(65535).default(5000),
    database: databaseSchema.optional(),
    objectStore: objectStoreSchema.optional(),
    auth: z
      .object({ enabled: z.boolean().default(false), adminUser: z.string().default("admin") })
      .strict()
      .default({ enabled: false, adminUser: "admin" }),
    resources: resourcesSchema.default(resourcesSchema.parse({})),
  })
  .strict();

// ---------- training ----------

export { type ModelFamily, type ModelSource, modelFamilies, modelId } from "./trainingModel";

export type { Scoring, Task } from "./scorers";

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type ParamValue = z.infer<typeof scalar>;

const choiceParam = z.object({ values: z.array(scalar).min(1, "expected at least one value") }).strict();
/** Range checks point at the offending bound, so the message shows the value to change. */
function checkRange(range: { low: number; high: number; log: boolean }, ctx: z.core.$RefinementCtx): void {
  if (range.low > range.high) ctx.addIssue({ code: "custom", path: ["high"], input: range.high, message: `expected high >= low (${range.low})` });
  if (range.log && range.low <= 0) ctx.addIssue({ code: "custom", path: ["low"], input: range.low, message: "expected low > 0 for a log-uniform range" });
}
const intParam = z
  .object({ type: z.literal("int"), low: z.number().int(), high: z.number().int(), step: z.number().int().min(1).default(1), log: z.boolean().default(false) })
  .strict()
  .superRefine(checkRange);
const floatParam = z
  .object({ type: z.literal("float"), low: z.number(), high: z.number(), log: z.boolean().default(false) })
  .strict()
  .superRefine(checkRange);
export const paramSpecSchema = z.union([choiceParam, intParam, floatParam]);
export type ParamSpec = z.infer<typeof paramSpecSchema>;

export const searchSpaceSchema = z
  .record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "expected an estimator parameter name"), paramSpecSchema)
  .refine((space) => Object.keys(space).length > 0, { message: "expected at least one parameter" });
export type SearchSpace = z.infer<typeof searchSpaceSchema>;

export const strategySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("grid") }).strict(),
  z.object({ kind: z.literal("random"), trials: z.number().int().min(1, "expected at least 1 trial").max(10_000), seed: z.number().int().default(42) }).strict(),
  z.object({ kind: z.literal("tpe"), trials: z.number().int().min(1, "expected at least 1 trial").max(10_000), seed: z.number().int().default(42) }).strict(),
]);
export type Strategy = z.infer<typeof strategySchema>;

/** Stops a trial between folds when its running CV mean is below the pruner's bar (Optuna's pruners). */
export const pruningSchema = z
  .object({
    kind: z.enum(["none", "median", "percentile", "wilcoxon"]).default("none"),
    afterFolds: z.number().int().min(1, "expected an integer >= 1").default(1),
    warmupTrials: z.number().int().min(0, "expected an integer >= 0").default(5),
    percentile: z.number().gt(0, "expected a number between 0 and 100").lt(100, "expected a number between 0 and 100").default(25),
    /** kind `wilcoxon`: the p-value under which a trial's fold scores count as worse than the best trial's. */
    pThreshold: z.number().gt(0, "expected a number between 0 and 1").lt(1, "expected a number between 0 and 1").default(0.1),
  })
  .strict();
export type PruningConfig = z.infer<typeof pruningSchema>;

export const generatedDatasetSchema = z
  .object({
    rows: z.number().int().min(50).default(2000),
    features: z.number().int().min(2).default(20),
    informative: z.number().int().min(1).default(8),
    classes: z.number().int().min(2).default(2),
    /** Fraction of rows in each class; omit for balanced classes. */
    weights: z.array(z.number().positive()).optional(),
    seed: z.number().int().default(7),
  })
  .strict()
  .refine((d) => d.informative <= d.features, { message: "expected informative <= features", path: ["informative"] })
  .refine((d) => !d.weights || d.weights.length === d.classes, { message: "expected one weight per class", path: ["weights"] });

export const datasetSchema = z
  .object({
    /** `generated`, a CSV/Parquet path, or an `s3://` URI. */
    source: z.string().default("generated"),
    target: z.string().default("target"),
    generate: generatedDatasetSchema.default(generatedDatasetSchema.parse({})),
    /** Column roles and missing-value policy; omit for all-numeric data (every column but the target is a feature). */
    features: featuresSchema.optional(),
  })
  .strict();
export type DatasetConfig = z.infer<typeof datasetSchema>;

const defaultSearchSpace: SearchSpace = {
  n_estimators: { values: [50, 100] },
  max_depth: { values: [4, 8, null] },
};

export const trainingSchema = z
  .object({
    experimentName: z.string().min(1).default("mlops-pipeline"),
    dataset: datasetSchema.default(datasetSchema.parse({})),
    /** An alias (`random_forest`, ...) or the import path of a scikit-learn-API class; see config/trainingModel.ts. */
    estimator: z.string().optional(),
    /** `<module>:<function>` in the user's code that returns an estimator for the trial's params. */
    factory: z.string().optional(),
    /** The former name of `estimator` (its three aliases only), kept so existing stacks keep working. */
    modelFamily: z.enum(modelFamilies).optional(),
    task: z.enum(tasks).optional(),
    /** The user's Python modules (for `factory`, custom transformers or estimators), relative to the project. */
    code: z.string().min(1).optional(),
    /** Extra Python packages, exact pins only (`xgboost==3.0.5`). */
    requirements: z.array(z.string()).default([]),
    cv: z
      .object({ groupColumn: z.string().min(1).optional() })
      .strict()
      .default({}),
    searchSpace: searchSpaceSchema.default(defaultSearchSpace),
    strategy: strategySchema.default({ kind: "grid" }),
    pruning: pruningSchema.default(pruningSchema.parse({})),
    cvFolds: z.number({ error: "expected an integer >= 2" }).int("expected an integer >= 2").min(2, "expected an integer >= 2").default(5),
    scoring: z.string().optional(),
    testSize: z.number().gt(0).lt(1).default(0.2),
    seed: z.number().int().default(42),
    workers: z.number().int().min(1, "expected an integer >= 1").max(1000).default(2),
    retries: z.number().int().min(0).max(20).default(2),
    maxFailedTrials: z.number().int().min(0, "expected an integer >= 0").optional(),
    resources: resourcesSchema.default(resourcesSchema.parse({})),
  })
  .strict()
  .superRefine((training, ctx) => {
    for (const problem of trainingModelProblems(training)) ctx.addIssue({ code: "custom", ...problem });
    if (training.strategy.kind === "grid") gridProblems(training.searchSpace, ctx, ["searchSpace"]);
    if (training.pruning.kind !== "none" && training.pruning.afterFolds >= training.cvFolds)
      ctx.addIssue({
        code: "custom",
        path: ["pruning", "afterFolds"],
        input: training.pruning.afterFolds,
        message: `expected fewer than cvFolds (${training.cvFolds}): a trial can only be pruned before its last fold`,
      });
    if (training.strategy.kind === "tpe")
      for (const [name, spec] of Object.entries(training.searchSpace))
        if ("type" in spec && spec.type === "int" && spec.log && spec.step !== 1)
          ctx.addIssue({
            code: "custom",
            path: ["searchSpace", name, "step"],
            input: spec.step,
            message: "expected step 1 for a log-scale int range under strategy tpe (Optuna samples log ranges without steps)",
          });
  })
  // Resolved once here: everything downstream reads `model`, `task` and `scoring` and never the raw keys.
  .transform((raw) => {
    const { estimator: _estimator, factory: _factory, modelFamily: _modelFamily, ...training } = raw;
    return { ...training, ...resolveModel(raw) };
  });
export type TrainingConfig = z.infer<typeof trainingSchema>;
export type { ResolvedModel };

// ---------- serving ----------

export const servingSchema = z
  .object({
    replicas: z.number().int().min(1, "expected an integer >= 1").max(100).default(2),
    port: z.number().int().min(1024).max(65535).default(8080),
    /** Port of the load balancer in front of the replicas (local and docker platforms). */
    loadBalancerPort: z.number().int().min(1024).max(65535).default(8000),
    resources: resourcesSchema.default(resourcesSchema.parse({})),
    /** Worker processes per replica; unset: see servingWorkers. */
    workers: z.number().int().min(1, "expected an integer >= 1").max(64).optional(),
    /** API key on /invocations, /example, /version; unset: see servingAuthEnabled. */
    auth: z.boolean().optional(),
    ingress: z
      .object({
        host: z.string().min(1),
        tlsSecret: z.string().optional(),
        className: z.string().default("nginx"),
        /** host:port of the Ingress controller as seen from this machine, for a host without a DNS record here. */
        address: z
          .string()
          .regex(/^[^\s:]+:\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:18480")
          .optional(),
      })
      .strict()
      .optional(),
    autoscaling: z
      .object({
        minReplicas: z.number().int().min(1),
        maxReplicas: z.number().int().min(1),
        targetCpuPercent: z.number().int().min(1).max(100).default(70),
      })
      .strict()
      .refine((a) => a.minReplicas <= a.maxReplicas, { message: "expected minReplicas <= maxReplicas", path: ["maxReplicas"] })
      .optional(),
  })
  .strict();
export type ServingConfig = z.infer<typeof servingSchema>;

/**
 * Whether the inference API asks for a key when `serving.auth` is unset: on wherever it is reachable
 * beyond this machine's loopback, i.e. docker (the balancer's port is published on the host) and
 * kubernetes with an Ingress; off on local (127.0.0.1 only) and on kubernetes without an Ingress.
 */
export function servingAuthEnabled(config: { readonly platform: string; readonly serving: Pick<ServingConfig, "auth" | "ingress"> }): boolean {
  if (config.serving.auth !== undefined) return config.serving.auth;
  return config.platform === "docker" || (config.platform === "kubernetes" && config.serving.ingress !== undefined);
}

/**
 * Model-server worker processes per replica: `serving.workers` if set; else 1 on local (replicas share
 * this machine's cores) and one per whole core of the CPU limit on docker and kubernetes (at least 1).
 */
export function servingWorkers(platform: string, serving: Pick<ServingConfig, "workers" | "resources">): number {
  if (serving.workers !== undefined) return serving.workers;
  if (platform === "local") return 1;
  const limit = serving.resources.cpuLimit;
  const cores = limit.endsWith("m") ? Number(limit.slice(0, -1)) / 1000 : Number(limit);
  return Number.isFinite(cores) ? Math.max(1, Math.floor(cores)) : 1;
}

// ---------- images and platform settings ----------

export const imagesSchema = z
  .object({
    /** Base of every Python image we build (build-images.sh --base); unset: the script's own choice. */
    pythonBase: pinnedImage.optional(),
    loadBalancer: pinnedImage.default(defaultVersions.loadBalancerImage),
    /** Registry prefix for the images we build, e.g. `registry.example.com/ml`; empty for a local engine. */
    registry: z
      .string()
      .regex(/^([a-z0-9][a-z0-9.:-]*(\/[a-z0-9._-]+)*)?$/, "expected a registry prefix such as registry.example.com/ml (lower case, no spaces)")
      .default(""),
    tag: z
      .string()
      .regex(/^[\w][\w.-]{0,127}$/, "expected an image tag")
      .refine((t) => t !== "latest", "expected a pinned tag, not 'latest'")
      .default(defaultVersions.imageTag),
  })
  .strict();
export type ImagesConfig = z.infer<typeof imagesSchema>;

export const kubernetesSchema = z
  .object({
    namespace: dnsLabel.default("mlops"),
    storageClass: z.string().optional(),
    /** Kubeconfig context; omit for the current one. */
    context: z.string().optional(),
    ingressControllerNamespace: dnsLabel.default("ingress-nginx"),
  })
  .strict();
export type KubernetesConfig = z.infer<typeof kubernetesSchema>;

export const dockerSchema = z
  .object({
    /** Docker host, e.g. unix:///var/run/docker.sock or ssh://user@host. */
    host: z.string().default("unix:///var/run/docker.sock"),
    network: z.string().default("mlops"),
  })
  .strict();
export type DockerConfig = z.infer<typeof dockerSchema>;

export const stackConfigSchema = z
  .object({
    platform: z.enum(platforms, { error: `expected one of ${platforms.join(", ")}` }),
    tracking: trackingSchema.default(trackingSchema.parse({})),
    training: trainingSchema.default(trainingSchema.parse({})),
    serving: servingSchema.default(servingSchema.parse({})),
    images: imagesSchema.default(imagesSchema.parse({})),
    kubernetes: kubernetesSchema.default(kubernetesSchema.parse({})),
    docker: dockerSchema.default(dockerSchema.parse({})),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const db = cfg.tracking.database;
    const store = cfg.tracking.objectStore;
    for (const [key, kind] of [
      ["database", db?.kind],
      ["objectStore", store?.kind],
    ] as const) {
      const reason = kind === undefined ? undefined : unsupportedReason(cfg.platform, key, kind);
      if (reason) ctx.addIssue({ code: "custom", path: ["tracking", key, "kind"], message: reason });
    }
    // Docker derives its trainer image with the user's code (components/docker/derivedImage.ts). Extra pins
    // would be pip-installed inside the engine's build, which cannot count on reaching PyPI (an offline engine,
    // a proxy whose CA only the host trusts), and the cluster's pods carry neither: refused rather than
    // failing in a build or a pod.
    if (cfg.platform === "kubernetes" && cfg.training.code !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["training", "code"],
        message: "expected platform local or docker: user code does not reach the kubernetes platform's pods yet",
      });
    if (cfg.platform !== "local" && cfg.training.requirements.length > 0)
      ctx.addIssue({
        code: "custom",
        path: ["training", "requirements"],
        message: `expected platform local: extra packages do not reach the ${cfg.platform} platform's images yet`,
      });
    if (cfg.serving.autoscaling && cfg.platform !== "kubernetes") {
      ctx.addIssue({ code: "custom", path: ["serving", "autoscaling"], message: "expected no autoscaling: it needs platform kubernetes" });
    }
    if (cfg.serving.autoscaling && (db?.kind ?? "sqlite") === "sqlite") {
      ctx.addIssue({ code: "custom", path: ["serving", "autoscaling"], message: "expected a PostgreSQL database when autoscaling" });
    }
  });

/** The parsed stack config with platform-appropriate tracking defaults filled in. */
export type StackConfig = z.infer<typeof stackConfigSchema> & {
  tracking: z.infer<typeof trackingSchema> & { database: DatabaseConfig; objectStore: ObjectStoreConfig };
};

/** Platform defaults for the storage choices left open: embedded on local, in-stack elsewhere. */
export function withPlatformDefaults(cfg: z.infer<typeof stackConfigSchema>): StackConfig {
  return {
    ...cfg,
    tracking: {
      ...cfg.tracking,
      database: cfg.tracking.database ?? databaseSchema.parse({ kind: defaultKind(cfg.platform, "database") }),
      objectStore: cfg.tracking.objectStore ?? objectStoreSchema.parse({ kind: defaultKind(cfg.platform, "objectStore") }),
    },
  };
}
