import * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout } from "../components/interfaces";
import { planStudy } from "../components/shared";
import type { QueueDatabase, ServerAddress } from "../components/shared/optunaStorage";
import type { TrialQueue } from "../components/shared/studySpec";
import { imageRef, type PhaseContext, trackingCredentials, trainingComponentName } from "./context";
import { platformFor } from "./platforms";
import { withTrackingStackSecrets } from "./secrets";

/** What training takes from the tracking phase (the server itself in `index.ts`, its outputs in the driver). */
export interface TrackingHandoff {
  readonly jobTrackingUri: pulumi.Input<string>;
  /** Kubernetes with the in-stack PostgreSQL: its Service, where the workers share the study. */
  readonly jobDatabaseAddress?: pulumi.Input<ServerAddress>;
  /** Where docker and kubernetes workers read a local dataset file the driver uploaded (driver/datasetUpload.ts). */
  readonly datasetSource?: string;
}

/**
 * How the workers share the study. Local workers share a disk: an Optuna journal file. Docker and
 * Kubernetes workers share the stack's PostgreSQL (its `optuna` database); Kubernetes workers reach an
 * in-stack one through the Service the tracking phase reports (`jobDatabaseAddress`), whose
 * NetworkPolicy admits them. Without PostgreSQL (sqlite) they run static shards.
 */
export function trialQueueFor(ctx: PhaseContext, jobDatabaseAddress?: pulumi.Input<ServerAddress>): { queue: TrialQueue; queueDatabase?: QueueDatabase } {
  const { platform, tracking } = ctx.config;
  if (platform === "local") return { queue: "journal" };
  if (tracking.database.kind === "sqlite") return { queue: "shard" };
  const password = ctx.secrets.databasePassword;
  if (password === undefined) throw new Error(`the ${platform} training workers share the study in the stack's PostgreSQL, but no database password reached the training program`);
  const needsAddress = platform === "kubernetes" && tracking.database.kind === "inStack";
  if (needsAddress && jobDatabaseAddress === undefined) {
    // RunError: a tracking stack from before the address was reported; no stack trace for that.
    throw new pulumi.RunError(
      `the kubernetes training workers share the study in the in-stack PostgreSQL, but the tracking phase reported no jobDatabaseAddress: run the init phase again (npm run pipeline -- --stack ${ctx.stack} --phase init)`,
    );
  }
  return { queue: "rdb", queueDatabase: { database: tracking.database, password, ...(needsAddress ? { address: jobDatabaseAddress } : {}) } };
}

/** train: plan the study and run its workers to completion. */
export function trainingProgram(ctx: PhaseContext, tracking: TrackingHandoff, rerunKey?: string): { fanout: TrainingFanout; trials: number } {
  const { queue, queueDatabase } = trialQueueFor(ctx, tracking.jobDatabaseAddress);
  const platform = platformFor(ctx.config.platform);
  const plan = planStudy(ctx.stack, ctx.config.training, {
    queue,
    ...(platform.codePath === undefined ? {} : { codePath: platform.codePath }),
    ...(tracking.datasetSource === undefined ? {} : { datasetSource: tracking.datasetSource }),
  });
  const { shards } = plan;
  const fanout = platform.training(
    trainingComponentName(ctx.stack),
    {
      shards,
      // Fewer trials than workers means fewer shards: only that many workers run.
      training: { ...ctx.config.training, workers: shards.length },
      trackingUri: tracking.jobTrackingUri,
      image: imageRef(ctx.config, "trainer"),
      trackingCredentials: trackingCredentials(ctx, "training"),
      rerunKey,
      ...(queueDatabase ? { queueDatabase } : {}),
    },
    ctx,
  );
  return { fanout, trials: plan.study.totalTrials };
}

/** The training phase stack's program body and its outputs. */
export function trainingPhase(ctx: PhaseContext, tracking: TrackingHandoff, rerunKey?: string) {
  const { fanout, trials } = trainingProgram(withTrackingStackSecrets(ctx), tracking, rerunKey);
  return { studyId: fanout.studyId, workerCount: fanout.workerCount, trials };
}
