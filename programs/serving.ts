import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ModelServing } from "../components/interfaces";
import { passwordOptions } from "../components/shared/generatedSecrets";
import { servingAuthEnabled, servingWorkers } from "../config";
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

/** The deploy phase's secret output holding the inference API key (absent when `serving.auth` is off). */
export const servingApiKeyOutput = "servingApiKey";

/**
 * The inference API key when `serving.auth` is on: the user's (`MLOPS_SERVING_API_KEY`), else a
 * RandomPassword of this phase, generated on the first deploy and kept in the encrypted state.
 */
export function servingApiKey(ctx: PhaseContext): pulumi.Output<string> | undefined {
  if (!servingAuthEnabled(ctx.config)) return undefined;
  if (ctx.secrets.servingApiKey) return pulumi.secret(ctx.secrets.servingApiKey);
  // 40 letters and digits (~238 bits): it travels in an HTTP header and a file, never needs escaping.
  const generated = new random.RandomPassword(`${ctx.stack}-serving-api-key`, { length: 40, special: false, upper: true, lower: true, numeric: true }, passwordOptions());
  return pulumi.secret(generated.result);
}

/** deploy: R replicas of the model server behind a load balancer. */
export function servingProgram(ctx: PhaseContext, inputs: ServingInputs, apiKey = servingApiKey(ctx)): ModelServing {
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
      workers: servingWorkers(ctx.config.platform, ctx.config.serving),
      ...(apiKey ? { apiKey } : {}),
    },
    ctx,
  );
}

/** The serving phase stack's program body and its outputs. */
export function servingPhase(ctx: PhaseContext, inputs: ServingInputs) {
  const apiKey = servingApiKey(ctx);
  return {
    endpoint: servingProgram(withTrackingStackSecrets(ctx), inputs, apiKey).endpoint,
    modelUri: inputs.modelUri,
    modelVersion: inputs.modelVersion,
    ...(apiKey ? { [servingApiKeyOutput]: apiKey } : {}),
  };
}

export const championModelUri = (name: string, alias: string) => `models:/${name}@${alias}`;
