import { spawnSync } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { repoRoot } from "./pipelineStack";

/** The local cluster of scripts/cluster as the cluster tier's tests use it: its scripts, kubeconfig and Ingress port. */
export const clusterScripts = path.join(repoRoot, "scripts", "cluster");
export const clusterKubeconfig = path.join(process.env.MLOPS_CLUSTER_STATE_DIR ?? "/var/lib/mlops-cluster", "kubeconfig");
export const clusterIngressPort = Number(process.env.MLOPS_CLUSTER_INGRESS_PORT ?? "18480");

export const clusterScript = (name: string, ...args: string[]) =>
  spawnSync("bash", [path.join(clusterScripts, name), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 900_000 });

/** Whether the cluster already runs (then a test uses it as it is, and leaves it up). */
export const clusterAlreadyUp = (): boolean => process.getuid?.() === 0 && clusterScript("status.sh").status === 0;

/** Why the cluster cannot run here (not root, binaries not built), or undefined. In CI missing binaries are a failure. */
export function clusterUnavailableReason(alreadyUp: boolean): string | undefined {
  if (process.getuid?.() !== 0) return "the cluster needs root (containers, mounts, iptables); run the tier as root";
  if (alreadyUp) return undefined;
  const built = clusterScript("build.sh", "check");
  if (built.status !== 0 && !process.env.CI) return built.stdout.trim() || "the cluster binaries are not built (make cluster-build)";
  return undefined;
}

/** GET through the Ingress controller's loopback port with a Host header (fetch may not set Host). */
export function ingressGet(host: string, pathName = "/"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: "127.0.0.1", port: clusterIngressPort, path: pathName, headers: { host }, timeout: 10_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("timeout", () => request.destroy(new Error("timed out after 10 s")));
    request.on("error", reject);
  });
}
