import type * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout } from "../components/interfaces";
import { buildShardSpecs } from "../components/shared";
import { imageRef, type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";

/** train: expand the search space, shard it over the workers and run every shard to completion. */
export function trainingProgram(ctx: PhaseContext, jobTrackingUri: pulumi.Input<string>, rerunKey?: string): { fanout: TrainingFanout; trials: number } {
  const shards = buildShardSpecs(ctx.stack, ctx.config.training);
  const fanout = platformFor(ctx.config.platform).training(
    `${ctx.stack}-training`,
    {
      shards,
      // Fewer trials than workers means fewer shards: only that many workers run.
      training: { ...ctx.config.training, workers: shards.length },
      trackingUri: jobTrackingUri,
      image: imageRef(ctx.config, "trainer"),
      trackingCredentials: trackingCredentials(ctx),
      rerunKey,
    },
    ctx,
  );
  return { fanout, trials: shards.reduce((sum, s) => sum + s.trials.length, 0) };
}

/** The training phase stack's program body and its outputs. */
export function trainingPhase(ctx: PhaseContext, jobTrackingUri: pulumi.Input<string>, rerunKey?: string) {
  const { fanout, trials } = trainingProgram(ctx, jobTrackingUri, rerunKey);
  return { studyId: fanout.studyId, workerCount: fanout.workerCount, trials };
}
