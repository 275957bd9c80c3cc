import type * as pulumi from "@pulumi/pulumi";
import type { Platform } from "../config";
import type { ModelServing, ModelServingArgs, TrackingServer, TrackingServerArgs, TrainingFanout, TrainingFanoutArgs } from "../components/interfaces";
import { LocalModelServing, LocalTrackingServer, LocalTrainingFanout } from "../components/local";
import type { PhaseContext } from "./context";

/** How one platform implements the three concerns; each adds its own platform settings to the shared args. */
export interface PlatformImplementation {
  tracking(name: string, args: TrackingServerArgs, ctx: PhaseContext, opts?: pulumi.ComponentResourceOptions): TrackingServer;
  training(name: string, args: TrainingFanoutArgs, ctx: PhaseContext, opts?: pulumi.ComponentResourceOptions): TrainingFanout;
  serving(name: string, args: ModelServingArgs, ctx: PhaseContext, opts?: pulumi.ComponentResourceOptions): ModelServing;
}

const local: PlatformImplementation = {
  tracking: (name, args, ctx, opts) => new LocalTrackingServer(name, { ...args, paths: ctx.paths }, opts),
  training: (name, args, ctx, opts) => new LocalTrainingFanout(name, { ...args, paths: ctx.paths }, opts),
  serving: (name, args, ctx, opts) => new LocalModelServing(name, { ...args, paths: ctx.paths }, opts),
};

const implementations: Partial<Record<Platform, PlatformImplementation>> = { local };

export function platformFor(platform: Platform): PlatformImplementation {
  const impl = implementations[platform];
  if (!impl) throw new Error(`platform ${platform} has no implementation`);
  return impl;
}
