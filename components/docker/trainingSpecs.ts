import type { Resources } from "../../config";
import { mlflowClientEnv } from "../shared/mlflowClientEnv";
import { optunaStorageEnv, type PostgresDatabase } from "../shared/optunaStorage";
import type { ShardSpec } from "../shared/studySpec";
import { baseContainer, type ContainerSpec, type Topology, topologyOf, withLimits } from "./specBasics";
import { postgresPort } from "./trackingSpecs";

/**
 * The training fan-out of the Docker platform: a `prepare` job, then one job per shard, as container specs.
 * With `queueDatabase` every shard holds the whole study and the jobs are identical pull-workers.
 */

export interface TrainingTopologyArgs {
  readonly prefix: string;
  readonly trainerImage: string;
  readonly trackingUri: string;
  readonly shards: readonly ShardSpec[];
  /** Extra attempts per container after a failure; finished trials are skipped on a rerun. */
  readonly retries: number;
  readonly resources: Resources;
  readonly trackingUsername?: string;
  /**
   * A value that changes when the previous training update failed (the driver: that update's start time).
   * Docker jobs run once per container, so a new value recreates them: a rerun after a failure trains
   * again (finished trials are skipped by the trainer, which recognises them by their trial key).
   */
  readonly rerunKey?: string;
  /** The stack's PostgreSQL: workers pull trials from one shared study in its `optuna` database (needs shards planned with queue "rdb"). */
  readonly queueDatabase?: PostgresDatabase;
}

/** The in-stack PostgreSQL's alias on the stack's network (its container's role in trackingSpecs.ts). */
export const inStackPostgres = { host: "postgres", port: postgresPort } as const;

export const rerunLabel = "io.mlops-pipeline.rerun-key";
export const studyIdLabel = "io.mlops-pipeline.study-id";
export const shardPath = (workerIndex: number) => `/etc/mlops/shard-${workerIndex}.json`;

/**
 * Runs `"$@"` up to 1 + MLOPS_RETRIES times: Docker's own restart policy would restart a job after
 * its exit has been reported, so retries live inside the container and its exit code is final.
 */
const retryLoop = [
  'attempt=1; while :; do "$@" && exit 0; code=$?',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  'if [ "$attempt" -gt "${MLOPS_RETRIES:-0}" ]; then echo "mlops: giving up after $attempt attempt(s), exit $code" >&2; exit "$code"; fi',
  'echo "mlops: attempt $attempt failed (exit $code); retrying" >&2; attempt=$((attempt + 1)); sleep 2; done',
].join("; ");

function trainerContainer(args: TrainingTopologyArgs, role: string, step: "prepare" | "run", shard: ShardSpec): ContainerSpec {
  const file = shardPath(shard.workerIndex);
  const client = mlflowClientEnv({ trackingUri: args.trackingUri, username: args.trackingUsername });
  const queue = args.queueDatabase ? optunaStorageEnv(args.queueDatabase, inStackPostgres) : { env: {}, secretEnv: {} };
  const base = baseContainer(args.prefix, role, "trainer", args.trainerImage);
  return withLimits(
    {
      ...base,
      entrypoint: ["sh", "-c", retryLoop, "retry"],
      command: ["python", "/app/trainer.py", step, "--spec", file],
      env: { ...client.env, ...queue.env, MLOPS_RETRIES: String(args.retries), PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1" },
      secretEnv: { ...client.secretEnv, ...queue.secretEnv },
      labels: {
        ...base.labels,
        [studyIdLabel]: shard.studyId,
        "io.mlops-pipeline.worker-index": String(shard.workerIndex),
        ...(args.rerunKey !== undefined ? { [rerunLabel]: args.rerunKey } : {}),
      },
      files: [{ path: file, content: `${JSON.stringify(shard, null, 2)}\n`, mode: 0o644 }],
      restart: "no",
      networkAliases: [],
      runToCompletion: true,
    },
    args.resources,
  );
}

/** One `prepare` job (the study's parent run and, on the shared queue, its trials), then one job per shard; all must exit 0. */
export function trainingTopology(args: TrainingTopologyArgs): Topology & { readonly prepare: ContainerSpec; readonly workers: readonly ContainerSpec[] } {
  const first = args.shards[0];
  if (first === undefined) throw new Error("training fan-out needs at least one shard: the search space expanded to no trials");
  // The trainer refuses either mismatch too, but only once the containers run.
  if ((first.queue === "rdb") !== (args.queueDatabase !== undefined)) {
    throw new Error(`training fan-out: shards planned with queue "${first.queue}" ${args.queueDatabase ? "cannot use" : "need"} the stack's PostgreSQL (queueDatabase)`);
  }
  const prepare = trainerContainer(args, "prepare", "prepare", first);
  const workers = args.shards.map((shard) => trainerContainer(args, `trainer-${shard.workerIndex}`, "run", shard));
  return { ...topologyOf([], [[prepare], workers]), prepare, workers };
}
