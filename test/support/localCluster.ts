import { spawnSync } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { portForwardArgv, type RunningPortForward, startPortForward } from "../../components/shared/portForward";
import type { StackConfig } from "../../config";
import { MlflowRest } from "./mlflowRest";
import { repoRoot } from "./pipelineStack";
import { skipOrFailInCI } from "./skips";
import { generatedSecretsOf, trackingStack } from "./stackSecrets";

/** The local cluster of scripts/cluster as the cluster tier's tests use it: its scripts, kubeconfig and Ingress port. */
export const clusterScripts = path.join(repoRoot, "scripts", "cluster");
export const clusterKubeconfig = path.join(process.env.MLOPS_CLUSTER_STATE_DIR ?? "/var/lib/mlops-cluster", "kubeconfig");
export const clusterIngressPort = Number(process.env.MLOPS_CLUSTER_INGRESS_PORT ?? "18480");
/** What every command of the tier runs with: the cluster's kubeconfig. */
export const clusterEnv = { KUBECONFIG: clusterKubeconfig };

export const clusterScript = (name: string, ...args: string[]) =>
  spawnSync("bash", [path.join(clusterScripts, name), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 900_000 });

/** Whether the cluster already runs (then a test uses it as it is, and leaves it up). */
export const clusterAlreadyUp = (): boolean => process.getuid?.() === 0 && clusterScript("status.sh").status === 0;

/** Why the cluster cannot run here (not root, binaries not built), or undefined. */
function clusterUnavailableReason(alreadyUp: boolean): string | undefined {
  if (process.getuid?.() !== 0) return "the cluster needs root (containers, mounts, iptables); run the tier as root";
  if (alreadyUp) return undefined;
  const built = clusterScript("build.sh", "check");
  if (built.status !== 0) return built.stdout.trim() || "the cluster binaries are not built (make cluster-build)";
  return undefined;
}

/** Skips `suite` (printing why) where the cluster cannot run; in CI that fails instead, not root included (test/support/skips.ts). */
export const clusterSuiteSkipped = (suite: string, alreadyUp: boolean): boolean => skipOrFailInCI(suite, clusterUnavailableReason(alreadyUp));

/** `bash -c <this> bash <args>` runs the kubectl on PATH after scripts/env.sh (the cluster's own when none is installed). */
const withEnvKubectl = `source ${path.join(repoRoot, "scripts", "env.sh")} && exec kubectl "$@"`;

/** kubectl on the cluster's kubeconfig; throws with its stderr when it fails. `input` goes to its stdin (e.g. a password for `exec -i`, never in an argv). */
export function kubectl(args: readonly string[], input?: string): string {
  const result = spawnSync("bash", ["-c", withEnvKubectl, "bash", ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    input,
    env: { ...process.env, ...clusterEnv },
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** `kubectl -n <namespace> <args> -o json`, parsed. */
export const kubectlJson = <T>(namespace: string, args: readonly string[]): T => JSON.parse(kubectl(["-n", namespace, ...args, "-o", "json"])) as T;

export interface IngressAnswer {
  readonly status: number;
  readonly body: string;
  readonly replica: string;
}

/**
 * One request through the Ingress controller's loopback port with the Ingress host in the Host header
 * (fetch may not set Host). One connection per request, so Traefik balances each one.
 */
export function ingressRequest(
  host: string,
  pathName: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<IngressAnswer> {
  const timeoutMs = init.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port: clusterIngressPort,
        path: pathName,
        method: init.method ?? "GET",
        headers: { ...init.headers, host, connection: "close" },
        timeout: timeoutMs,
        agent: false,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body, replica: String(response.headers["x-replica-id"] ?? "") }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`timed out after ${timeoutMs / 1000} s`)));
    request.on("error", reject);
    request.end(init.body);
  });
}

export const ingressGet = (host: string, pathName = "/") => ingressRequest(host, pathName);

/**
 * MLflow of a pipeline stack on the cluster, reached as the driver's select reaches it: the tracking
 * phase's `kubectl port-forward` (components/shared/portForward.ts), as its admin. `close()` stops the forward.
 */
export async function clusterMlflow(stack: string, config: StackConfig): Promise<{ mlflow: MlflowRest; close: () => Promise<void> }> {
  const outputs = await (await trackingStack(stack)).outputs();
  const command = String(outputs.portForwardCommand?.value ?? "");
  const trackingUri = String(outputs.driverTrackingUri?.value ?? "");
  const argv = portForwardArgv(command, config.kubernetes.context);
  const forward: RunningPortForward = await startPortForward({
    command: { ...argv, file: "bash", args: ["-c", withEnvKubectl, "bash", ...argv.args] },
    healthUrl: `${trackingUri}/health`,
    env: { ...process.env, ...clusterEnv },
  });
  const password = (await generatedSecretsOf(stack)).values.authAdminPassword;
  const credentials = password ? { username: config.tracking.auth.adminUser, password } : undefined;
  return { mlflow: new MlflowRest(trackingUri, credentials), close: () => forward.stop() };
}
