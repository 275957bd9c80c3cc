import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../../config";
import type { PlatformImplementation } from "../../../programs/platforms";

/** Each tracking server a program asked a platform for, with the options it passed (e.g. `dependsOn`). */
export const trackingCalls: { name: string; opts?: pulumi.ComponentResourceOptions }[] = [];

/**
 * For `vi.mock("../../programs/platforms", (importActual) => ...)`: the real platforms, with every
 * tracking call recorded in `trackingCalls`.
 */
export async function recordingPlatforms(importActual: <T>() => Promise<T>): Promise<typeof import("../../../programs/platforms")> {
  const actual = await importActual<typeof import("../../../programs/platforms")>();
  return {
    ...actual,
    platformFor: (platform: StackConfig["platform"]): PlatformImplementation => {
      const real = actual.platformFor(platform);
      return {
        ...real,
        tracking: (name, args, ctx, opts) => {
          trackingCalls.push({ name, opts });
          return real.tracking(name, args, ctx, opts);
        },
      };
    },
  };
}
