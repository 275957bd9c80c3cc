/**
 * On a cluster, MLflow is not exposed outside it: the select phase reaches it through the
 * `kubectl port-forward` the tracking phase exports as `portForwardCommand`. This starts that command as a
 * child process, waits (bounded) until MLflow answers `/health` on the local port, runs the work, and
 * stops the child afterwards, also when the work fails.
 */
import type { OutputMap } from "@pulumi/pulumi/automation";
import { portForwardArgv, withPortForward } from "../components/shared/portForward";
import type { StackConfig } from "../config";
import { need } from "./phases";

// The mechanism lives in components/shared, where the ChampionAlias resource of `pulumi up` uses it too.
export { type PortForwardCommand, type PortForwardOptions, portForwardArgv, type RunningPortForward, startPortForward, withPortForward } from "../components/shared/portForward";

/**
 * Runs `work` with MLflow reachable at the tracking phase's `driverTrackingUri`: directly on local and
 * docker, through `kubectl port-forward` on kubernetes.
 */
export async function withTrackingAccess<T>(config: StackConfig, tracking: OutputMap, work: () => Promise<T>): Promise<T> {
  if (config.platform !== "kubernetes") return work();
  const command = portForwardArgv(need<string>(tracking, "portForwardCommand"), config.kubernetes.context);
  const healthUrl = `${need<string>(tracking, "driverTrackingUri").replace(/\/$/, "")}/health`;
  return withPortForward({ command, healthUrl }, work);
}
