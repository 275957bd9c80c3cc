import type * as pulumi from "@pulumi/pulumi";
import type { ModelServing } from "../components/interfaces";
import { imageRef, type PhaseContext, trackingCredentials } from "./context";
import { platformFor } from "./platforms";
import { withTrackingStackSecrets } from "./secrets";

export interface ServingInputs {
  readonly jobTrackingUri: pulumi.Input<string>;
  /** `models:/<name>@<alias>` */
  readonly modelUri: string;
  /** The champion's version: a new one restarts the replicas so they load it. */
  readonly modelVersion: pulumi.Input<string>;
}

/** deploy: R replicas of the model server behind a load balancer. */
export function servingProgram(ctx: PhaseContext, inputs: ServingInputs): ModelServing {
  return platformFor(ctx.config.platform).serving(
    `${ctx.stack}-serving`,
    {
      modelUri: inputs.modelUri,
      modelVersion: inputs.modelVersion,
      serving: ctx.config.serving,
      trackingUri: inputs.jobTrackingUri,
      image: imageRef(ctx.config, "serving"),
      images: ctx.config.images,
      trackingCredentials: trackingCredentials(ctx, "serving"),
    },
    ctx,
  );
}

/** The serving phase stack's program body and its outputs. */
export const servingPhase = (ctx: PhaseContext, inputs: ServingInputs) => ({
  endpoint: servingProgram(withTrackingStackSecrets(ctx), inputs).endpoint,
  modelUri: inputs.modelUri,
  modelVersion: inputs.modelVersion,
});

export const championModelUri = (name: string, alias: string) => `models:/${name}@${alias}`;
