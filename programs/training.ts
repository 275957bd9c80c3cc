import type * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout } from "../components/interfaces";
import { planStudy } from "../components/shared";
import { imageRef, type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";
import { withTrackingStackSecrets } from "./secrets";

/**
 * train: plan the study and run its workers to completion. Local workers share a disk, so they pull
 * from one queue (an Optuna journal file); docker and kubernetes workers run static shards until
 * the stack's PostgreSQL is handed to them as MLOPS_OPTUNA_STORAGE.
 */
export function trainingProgram(ctx: PhaseContext, jobTrackingUri: pulumi.Input<string>, rerunKey?: string): { fanout: TrainingFanout; trials: number } {
  const plan = planStudy(ctx.stack, ctx.config.training, { queue: ctx.config.platform === "local" ? "journal" : "shard" });
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
