import type * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout } from "../components/interfaces";
import { planStudy } from "../components/shared";
import type { QueueDatabase } from "../components/shared/optunaStorage";
import type { TrialQueue } from "../components/shared/studySpec";
import { imageRef, type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";
import { withTrackingStackSecrets } from "./secrets";

/**
 * How the workers share the study. Local workers share a disk: an Optuna journal file. Docker workers,
 * and Kubernetes workers on an external PostgreSQL, share the stack's PostgreSQL (its `optuna` database).
 * Kubernetes workers on the in-stack PostgreSQL still run static shards: it admits only MLflow's pods
 * (NetworkPolicy) and its Service name is not handed to the training stack yet.
 */
export function trialQueueFor(ctx: PhaseContext): { queue: TrialQueue; queueDatabase?: QueueDatabase } {
  const { platform, tracking } = ctx.config;
  if (platform === "local") return { queue: "journal" };
  if (tracking.database.kind === "sqlite" || (platform === "kubernetes" && tracking.database.kind === "inStack")) return { queue: "shard" };
  const password = ctx.secrets.databasePassword;
  if (password === undefined) throw new Error(`the ${platform} training workers share the study in the stack's PostgreSQL, but no database password reached the training program`);
  return { queue: "rdb", queueDatabase: { database: tracking.database, password } };
}

/** train: plan the study and run its workers to completion. */
export function trainingProgram(ctx: PhaseContext, jobTrackingUri: pulumi.Input<string>, rerunKey?: string): { fanout: TrainingFanout; trials: number } {
  const { queue, queueDatabase } = trialQueueFor(ctx);
  const plan = planStudy(ctx.stack, ctx.config.training, { queue });
  const { shards } = plan;
  const fanout = platformFor(ctx.config.platform).training(
    `${ctx.stack}-training`,
    {
      shards,
      // Fewer trials than workers means fewer shards: only that many workers run.
      training: { ...ctx.config.training, workers: shards.length },
      trackingUri: jobTrackingUri,
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
export function trainingPhase(ctx: PhaseContext, jobTrackingUri: pulumi.Input<string>, rerunKey?: string) {
  const { fanout, trials } = trainingProgram(withTrackingStackSecrets(ctx), jobTrackingUri, rerunKey);
  return { studyId: fanout.studyId, workerCount: fanout.workerCount, trials };
}
