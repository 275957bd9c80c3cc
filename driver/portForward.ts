/**
 * On a cluster, MLflow is not exposed outside it: the select phase reaches it through the
 * `kubectl port-forward` the tracking phase exports as `portForwardCommand`. The mechanism (start the
 * command, wait for `/health`, stop it afterwards, also when the work fails) lives in
 * components/shared/portForward.ts, where the ChampionAlias resource of `pulumi up` uses it too.
 */
import type { OutputMap } from "@pulumi/pulumi/automation";
import { type PortForwardOptions, trackingForward, withPortForward } from "../components/shared/portForward";
import type { StackConfig } from "../config";
import { need } from "./phases";

/**
 * The port-forward that makes the tracking phase's `driverTrackingUri` answer: undefined on local and
 * docker (it answers as it is), the tracking phase's `kubectl port-forward` on kubernetes.
 */
export function trackingPortForward(config: StackConfig, tracking: OutputMap): PortForwardOptions | undefined {
  if (config.platform !== "kubernetes") return undefined;
  const portForwardCommand = need<string>(tracking, "portForwardCommand");
  return trackingForward({ trackingUri: need<string>(tracking, "driverTrackingUri"), portForwardCommand, kubeContext: config.kubernetes.context });
}

/** Runs `work` with MLflow reachable at the tracking phase's `driverTrackingUri` (see trackingPortForward). */
export async function withTrackingAccess<T>(config: StackConfig, tracking: OutputMap, work: () => Promise<T>): Promise<T> {
  const forward = trackingPortForward(config, tracking);
  return forward ? withPortForward(forward, work) : work();
}
