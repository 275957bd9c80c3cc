import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout, TrainingFanoutArgs } from "../interfaces";
import type { QueueDatabase } from "../shared/optunaStorage";
import type { ShardSpec } from "../shared/studySpec";
import { builtImageRef } from "../shared/images";
import { checkedFor } from "../shared/resourceError";
import { validateShards } from "../shared/sharding";
import { trackingPasswordSecret } from "./clientSecret";
import { buildWith, fromManifest } from "./manifestArgs";
import { childResourceName, roles, objectLabels, studyIdLabel, validateInstanceName } from "./meta";
import { buildIndexedJob, buildPrepareJob, buildShardConfigMap, queuePasswordKey, type TrainingJobParams } from "./trainingManifests";

export interface KubernetesTrainingFanoutArgs extends TrainingFanoutArgs {
  readonly namespace: pulumi.Input<string>;
  /** Used for the default trainer image `<registry>/mlops-trainer:<tag>` when `image` is not set. */
  readonly images?: { readonly registry: string; readonly tag: string };
  /** How long finished Jobs stay for their logs; default one day. */
  readonly ttlSecondsAfterFinished?: number;
  /**
   * Shards allowed to exhaust their retries before the study stops; default 0, so a broken study
   * stops early instead of burning cluster time (a rerun skips finished trials by key).
   */
  readonly maxFailedIndexes?: number;
  /** How long Pulumi waits for the study to finish; default 6h. */
  readonly timeout?: string;
}

const labelValue = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Checks the shards against the config before anything is created; returns the study id. */
export function validateFanout(shards: readonly ShardSpec[], workers: number, maxFailedIndexes: number, queueDatabase?: QueueDatabase): string {
  const studyId = validateShards(shards, workers);
  const queue = shards[0]?.queue;
  if ((queue === "rdb") !== (queueDatabase !== undefined)) {
    throw new Error(`KubernetesTrainingFanout: shards planned with queue "${queue}" ${queueDatabase ? "cannot use" : "need"} the stack's PostgreSQL (queueDatabase)`);
  }
  if (queueDatabase?.database.kind === "inStack" && queueDatabase.address === undefined) {
    throw new Error(
      "KubernetesTrainingFanout: the shared trial queue on the in-stack PostgreSQL needs its Service address (queueDatabase.address: the tracking server's jobDatabaseAddress; rerun the init phase if its stack has none)",
    );
  }
  if (shards.length !== workers) {
    throw new Error(
      `KubernetesTrainingFanout: got ${shards.length} shard specs for training.workers = ${workers}: the Indexed Job runs one shard per completion, so build exactly one shard per worker`,
    );
  }
  const indexes = shards.map((s) => s.workerIndex).sort((a, b) => a - b);
  if (indexes.some((index, k) => index !== k)) throw new Error(`KubernetesTrainingFanout: shard workerIndex values must be 0..${workers - 1}, got ${indexes.join(", ")}`);
  if (!labelValue.test(studyId)) throw new Error(`KubernetesTrainingFanout: study id '${studyId}' is not a valid label value (max 63 letters, digits, '-', '_', '.')`);
  if (!Number.isInteger(maxFailedIndexes) || maxFailedIndexes < 0 || maxFailedIndexes > workers) {
    throw new Error(`KubernetesTrainingFanout: maxFailedIndexes must be an integer between 0 and training.workers (${workers}), got ${maxFailedIndexes}`);
  }
  return studyId;
}

/**
 * The study on Kubernetes: a ConfigMap of shard specs, a "prepare" Job, then one Indexed Job whose
 * completions are the shards. Pulumi waits for both Jobs to complete, so a finished `up` means a
 * finished study. On the shared queue (`queueDatabase`) every completion is a pull-worker of one Optuna
 * study in the stack's PostgreSQL, with the trainer's own heartbeats returning a killed pod's trial to
 * the queue (as on docker); an in-stack server is reached at `queueDatabase.address`.
 */
export class KubernetesTrainingFanout extends pulumi.ComponentResource implements TrainingFanout {
  readonly studyId: pulumi.Output<string>;
  readonly workerCount: pulumi.Output<number>;

  constructor(name: string, args: KubernetesTrainingFanoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:TrainingFanout", name, {}, opts);
    const workers = args.training.workers;
    const maxFailedIndexes = args.maxFailedIndexes ?? 0;
    const { studyId, image } = checkedFor(this, () => {
      validateInstanceName("KubernetesTrainingFanout", name);
      const studyId = validateFanout(args.shards, workers, maxFailedIndexes, args.queueDatabase);
      if (args.image !== undefined) return { studyId, image: args.image };
      if (args.images === undefined) throw new Error("KubernetesTrainingFanout: pass `image` or `images` (registry and tag) for the trainer image");
      return { studyId, image: builtImageRef(args.images, "trainer") };
    });
    const namespace = pulumi.output(args.namespace);
    const child = { parent: this };
    const timeouts = { create: args.timeout ?? "6h", update: args.timeout ?? "6h" };

    const configMap = new k8s.core.v1.ConfigMap(childResourceName(name, "shards"), buildShardConfigMap({ instance: name, namespace, shards: args.shards }), child);
    const credentials = args.trackingCredentials;
    const labels = { ...objectLabels(name, "trainer", roles.trainer), [studyIdLabel]: studyId };
    const passwordSecret = trackingPasswordSecret(name, { namespace, labels, credentials }, this);
    const queueDatabase = args.queueDatabase;
    const queueSecret =
      queueDatabase &&
      new k8s.core.v1.Secret(
        childResourceName(name, "queue"),
        { metadata: { namespace, labels }, type: "Opaque", stringData: { [queuePasswordKey]: pulumi.secret(queueDatabase.password) } },
        child,
      );

    const address = pulumi.output(queueDatabase?.address);
    const refs = {
      ns: namespace,
      configMap: configMap.metadata.name,
      trackingUri: args.trackingUri,
      secret: passwordSecret?.metadata.name ?? "",
      queueSecret: queueSecret?.metadata.name ?? "",
      queueHost: address.apply((a) => a?.host ?? ""),
      queuePort: address.apply((a) => String(a?.port ?? "")),
      image,
    };
    const params = (r: Record<keyof typeof refs, string>): TrainingJobParams => ({
      instance: name,
      namespace: r.ns,
      studyId,
      image: r.image,
      trackingUri: r.trackingUri,
      workers,
      retries: args.training.retries,
      resources: args.training.resources,
      configMapName: r.configMap,
      credentials: credentials ? { username: credentials.username, secretName: r.secret } : undefined,
      ttlSecondsAfterFinished: args.ttlSecondsAfterFinished ?? 86_400,
      maxFailedIndexes,
      queue: queueDatabase
        ? { database: queueDatabase.database, secretName: r.queueSecret, ...(r.queueHost ? { address: { host: r.queueHost, port: Number(r.queuePort) } } : {}) }
        : undefined,
    });
    const build = (builder: (p: TrainingJobParams) => k8s.types.input.batch.v1.Job) => fromManifest(buildWith(refs, (r) => builder(params(r))));

    const prepare = new k8s.batch.v1.Job(childResourceName(name, "prepare"), build(buildPrepareJob), { ...child, customTimeouts: timeouts });
    const indexed = new k8s.batch.v1.Job(childResourceName(name, "workers"), build(buildIndexedJob), { ...child, dependsOn: [prepare], customTimeouts: timeouts });

    this.studyId = indexed.id.apply(() => studyId);
    this.workerCount = indexed.status.apply((status) => status?.succeeded ?? 0);
    this.registerOutputs({ studyId: this.studyId, workerCount: this.workerCount });
  }
}
