import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout, TrainingFanoutArgs } from "../interfaces";
import { checkedFor } from "../shared/resourceError";
import { validateShards } from "../shared/sharding";
import { localClientEnv } from "./clientEnv";
import { LocalJob } from "./localJob";
import type { LocalPaths } from "./paths";

export interface LocalTrainingFanoutArgs extends TrainingFanoutArgs {
  readonly paths: LocalPaths;
  /** Per-worker time limit; a hung worker is killed and retried. */
  readonly workerTimeoutSeconds?: number;
}

export const trainerScript = (paths: LocalPaths) => path.join(paths.workDir, "images", "trainer", "trainer.py");
export const shardFile = (paths: LocalPaths, studyId: string, worker: number) => path.join(paths.stateDir, "studies", studyId, `shard-${worker}.json`);

/** The trainer command for one step; `prepare` creates the study's parent run once, before the workers. */
export function trainerCommand(paths: LocalPaths, step: "prepare" | "run", spec: string): string[] {
  return [paths.python, trainerScript(paths), step, "--spec", spec];
}

/** One process per worker, each running its shard to completion; the deployment fails if a worker still fails after its retries. */
export class LocalTrainingFanout extends pulumi.ComponentResource implements TrainingFanout {
  readonly studyId: pulumi.Output<string>;
  readonly workerCount: pulumi.Output<number>;

  constructor(name: string, args: LocalTrainingFanoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:local:TrainingFanout", name, {}, opts);
    const studyId = checkedFor(this, () => validateShards(args.shards, args.training.workers));
    const { paths } = args;
    const { env, secretEnv } = localClientEnv(args.trackingUri, args.trackingCredentials);
    const shardFiles = args.shards.map((shard) => ({ path: shardFile(paths, studyId, shard.workerIndex), content: `${JSON.stringify(shard, null, 2)}\n`, mode: 0o644 }));
    const jobBase = { cwd: paths.workDir, env, secretEnv, retries: args.training.retries, timeoutSeconds: args.workerTimeoutSeconds ?? 6 * 3600 };

    const prepare = new LocalJob(
      `${name}-prepare`,
      {
        ...jobBase,
        description: `the trainer's prepare step (study ${studyId})`,
        command: trainerCommand(paths, "prepare", shardFiles[0]?.path ?? ""),
        files: shardFiles.slice(0, 1),
        logFile: `${paths.logDir}/train-${studyId}-prepare.log`,
      },
      { parent: this },
    );
    const workers = args.shards.map(
      (shard, k) =>
        new LocalJob(
          `${name}-worker-${shard.workerIndex}`,
          {
            ...jobBase,
            description: `training worker ${shard.workerIndex} of ${args.shards.length} (study ${studyId})`,
            command: trainerCommand(paths, "run", shardFiles[k]?.path ?? ""),
            files: [shardFiles[k]].filter((f) => f !== undefined),
            logFile: `${paths.logDir}/train-${studyId}-worker-${shard.workerIndex}.log`,
          },
          { parent: this, dependsOn: [prepare] },
        ),
    );
    this.studyId = pulumi.all(workers.map((w) => w.id)).apply(() => studyId);
    this.workerCount = pulumi.output(workers.length);
    this.registerOutputs({ studyId: this.studyId, workerCount: this.workerCount });
  }
}
