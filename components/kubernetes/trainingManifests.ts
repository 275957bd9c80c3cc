import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Resources } from "../../config";
import type { ShardSpec } from "../shared/studySpec";
import { mlflowClientVars } from "../shared/mlflowClientEnv";
import { optunaStorageEnv, type PostgresDatabase, type ServerAddress } from "../shared/optunaStorage";
import {
  appUserId,
  containerSecurityContext,
  podSecurityContext,
  resourceRequirements,
  roles,
  trackingCredentialEnv,
  podSelector,
  objectLabels,
  planEnv,
  studyIdLabel,
} from "./meta";

/** The trainer inside images/trainer; `{index}` in the spec path is replaced by JOB_COMPLETION_INDEX. */
export const trainerCommand = ["python", "/app/trainer.py"] as const;
export const specMountPath = "/spec";
/** ConfigMaps are capped at 1 MiB; leave room for metadata. */
const configMapLimitBytes = 1_000_000;

export const shardFileName = (workerIndex: number) => `shard-${workerIndex}.json`;
/** The key of the database role's password in the shared queue's Secret. */
export const queuePasswordKey = "database-password";

export interface TrainingJobParams {
  readonly instance: string;
  readonly namespace: string;
  readonly studyId: string;
  readonly image: string;
  readonly trackingUri: string;
  readonly workers: number;
  readonly retries: number;
  readonly resources: Resources;
  readonly configMapName: string;
  /** Set when MLflow runs with basic auth: the password comes from this Secret. */
  readonly credentials?: { readonly username: string; readonly secretName: string };
  /** How long finished Jobs (and their pod logs) stay in the cluster. */
  readonly ttlSecondsAfterFinished: number;
  /** Failed indexes tolerated before the whole Job is stopped. */
  readonly maxFailedIndexes: number;
  /**
   * Shards planned with queue "rdb": every index pulls from the study in this database; the password comes
   * from this Secret. `address`: the in-stack server's Service (required for an in-stack database).
   */
  readonly queue?: { readonly database: PostgresDatabase; readonly secretName: string; readonly address?: ServerAddress };
}

/** Threads per worker: the CPU limit rounded up, so BLAS and joblib do not oversubscribe the node. */
export function threadsFor(cpuLimit: string): number {
  const cores = cpuLimit.endsWith("m") ? Number(cpuLimit.slice(0, -1)) / 1000 : Number(cpuLimit);
  return Number.isFinite(cores) && cores > 0 ? Math.max(1, Math.ceil(cores)) : 1;
}

export function trainerSelector(instance: string, studyId: string, role: typeof roles.trainer | typeof roles.trainerPrepare) {
  return { ...podSelector(instance, "trainer", role), [studyIdLabel]: studyId };
}

/**
 * The pods of fan-out `instance` that use the shared trial queue (prepare enqueues, workers pull), for the
 * in-stack PostgreSQL's NetworkPolicy: every study of that fan-out, so no study id.
 */
export function queueClientSelectors(instance: string) {
  return [podSelector(instance, "trainer", roles.trainerPrepare), podSelector(instance, "trainer", roles.trainer)];
}

/** One key per shard; every pod mounts all of them and picks its own by index. */
export function buildShardConfigMap(p: { instance: string; namespace: pulumi.Input<string>; shards: readonly ShardSpec[] }): k8s.types.input.core.v1.ConfigMap {
  const data = Object.fromEntries(p.shards.map((shard) => [shardFileName(shard.workerIndex), `${JSON.stringify(shard, null, 2)}\n`]));
  const size = Object.entries(data).reduce((sum, [key, value]) => sum + key.length + Buffer.byteLength(value), 0);
  if (size > configMapLimitBytes) {
    throw new Error(
      `KubernetesTrainingFanout: the shard specs take ${size} bytes, over the ${configMapLimitBytes}-byte ConfigMap limit: reduce the trials (training.strategy) or raise training.workers`,
    );
  }
  const studyId = p.shards[0]?.studyId ?? "";
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { namespace: p.namespace, labels: { ...objectLabels(p.instance, "trainer", roles.trainer), [studyIdLabel]: studyId } },
    data,
  };
}

function trainerPodSpec(p: TrainingJobParams, args: string[], spread: boolean, selector: Record<string, string>): k8s.types.input.core.v1.PodSpec {
  const env: k8s.types.input.core.v1.EnvVar[] = [
    { name: mlflowClientVars.trackingUri, value: p.trackingUri },
    { name: "PYTHONUNBUFFERED", value: "1" },
    { name: "OMP_NUM_THREADS", value: String(threadsFor(p.resources.cpuLimit)) },
    ...trackingCredentialEnv(p.credentials),
    ...(p.queue ? planEnv(optunaStorageEnv(p.queue.database, p.queue.address), p.queue.secretName, { databasePassword: queuePasswordKey }) : []),
  ];
  return {
    restartPolicy: "Never",
    securityContext: podSecurityContext(appUserId),
    ...(spread
      ? { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } }] }
      : {}),
    containers: [
      {
        name: "trainer",
        image: p.image,
        command: [...trainerCommand],
        args,
        env,
        volumeMounts: [{ name: "spec", mountPath: specMountPath, readOnly: true }],
        resources: resourceRequirements(p.resources),
        securityContext: containerSecurityContext(),
      },
    ],
    volumes: [{ name: "spec", configMap: { name: p.configMapName } }],
  };
}

/** Creates the study's parent run once, so the workers never race to create it. */
export function buildPrepareJob(p: TrainingJobParams): k8s.types.input.batch.v1.Job {
  const selector = trainerSelector(p.instance, p.studyId, roles.trainerPrepare);
  const labels = { ...objectLabels(p.instance, "trainer", roles.trainerPrepare), [studyIdLabel]: p.studyId };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { namespace: p.namespace, labels, annotations: { "pulumi.com/replaceUnready": "true" } },
    spec: {
      backoffLimit: p.retries,
      ttlSecondsAfterFinished: p.ttlSecondsAfterFinished,
      template: { metadata: { labels }, spec: trainerPodSpec(p, ["prepare", "--spec", `${specMountPath}/${shardFileName(0)}`], false, selector) },
    },
  };
}

/**
 * One Indexed Job for the whole study: pod k runs shard k (on the shared queue every shard is the
 * whole study, so each index is a pull-worker), each index retried on its own
 * (backoffLimitPerIndex), and pods spread over nodes so a study uses the cluster's width.
 */
export function buildIndexedJob(p: TrainingJobParams): k8s.types.input.batch.v1.Job {
  const selector = trainerSelector(p.instance, p.studyId, roles.trainer);
  const labels = { ...objectLabels(p.instance, "trainer", roles.trainer), [studyIdLabel]: p.studyId };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { namespace: p.namespace, labels, annotations: { "pulumi.com/replaceUnready": "true" } },
    spec: {
      completionMode: "Indexed",
      completions: p.workers,
      parallelism: p.workers,
      backoffLimitPerIndex: p.retries,
      maxFailedIndexes: p.maxFailedIndexes,
      ttlSecondsAfterFinished: p.ttlSecondsAfterFinished,
      template: { metadata: { labels }, spec: trainerPodSpec(p, ["run", "--spec", `${specMountPath}/shard-{index}.json`], true, selector) },
    },
  };
}
