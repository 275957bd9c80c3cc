import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep, timedStep } from "../support/commands";
import { clusterAlreadyUp, clusterKubeconfig, clusterScript, clusterScripts, clusterSuiteSkipped, ingressGet } from "../support/localCluster";

// The local single-node cluster of scripts/cluster on this machine, for real: `up.sh` (or a cluster
// already up), then a Deployment, a Service found by DNS from another pod, a StatefulSet whose claim
// binds, an Ingress answering on a loopback port, node metrics; `down.sh` when this test started it.
const kubeconfig = clusterKubeconfig;
const namespace = `cluster-test-${process.pid}`;

const script = clusterScript;
const scripts = clusterScripts;
// A cluster that is already up is used as it is, and left up.
const alreadyUp = clusterAlreadyUp();
const skipped = clusterSuiteSkipped("the cluster tier", alreadyUp);

// The kubectl that build.sh made, of the same release as the cluster.
const kubernetesVersion = /^KUBERNETES_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(scripts, "versions.env"), "utf8"))?.[1];
const cacheDir = process.env.MLOPS_CACHE_DIR ?? path.join(os.homedir(), ".cache", "mlops-pipeline");
const kubectlBin = path.join(cacheDir, "cluster", `kubernetes-${kubernetesVersion}`, "bin", "kubectl");

/** kubectl on the cluster's kubeconfig; throws with its stderr on failure. */
function kubectl(args: readonly string[], input?: string): string {
  const result = spawnSync(kubectlBin, ["--kubeconfig", kubeconfig, ...args], { encoding: "utf8", input, timeout: 300_000 });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(2_000);
  }
  throw new Error(`${what}: not reached within ${timeoutMs / 1000} s${last ? ` (last error: ${String(last)})` : ""}`);
}

function images(): Record<string, string> {
  const names = script("images.sh", "names");
  return Object.fromEntries(
    names.stdout
      .trim()
      .split("\n")
      .map((line) => line.split("=", 2) as [string, string]),
  );
}

function workloads(busybox: string): string {
  // A web server answering with its pod name, a Service and Ingress in front of it, and a StatefulSet
  // whose readiness needs its claimed volume to be writable.
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ${busybox}
          imagePullPolicy: Never
          command: [sh, -c, "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
          resources: {requests: {cpu: 10m, memory: 8Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ${namespace}}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: ${namespace}}
spec:
  ingressClassName: traefik
  rules:
    - host: web.cluster.test
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: store, namespace: ${namespace}}
spec:
  serviceName: store
  replicas: 1
  selector: {matchLabels: {app: store}}
  template:
    metadata: {labels: {app: store}}
    spec:
      containers:
        - name: store
          image: ${busybox}
          imagePullPolicy: Never
          command: [sh, -c, "echo written > /data/probe && exec sleep 3600"]
          readinessProbe: {exec: {command: [cat, /data/probe]}, periodSeconds: 1}
          volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
`;
}

function dnsClient(busybox: string): string {
  return `
apiVersion: v1
kind: Pod
metadata: {name: dns-client, namespace: ${namespace}}
spec:
  restartPolicy: Never
  containers:
    - name: client
      image: ${busybox}
      imagePullPolicy: Never
      # Resolve the Service's name through cluster DNS, then fetch through it (nc: the image has no working wget).
      # kube-proxy programs a new Service's rules asynchronously (seen: a few seconds late after a busy
      # test), so the fetch is retried for up to 30 s, as any client of a fresh Service would. Only a 200
      # counts: until the rules exist the ClusterIP is routed off the node, and this machine's network
      # answers any port-80 request there itself (seen in CI: "426 Upgrade Required" from "server: keryx").
      command: [sh, -c, "nslookup web.${namespace}.svc.cluster.local && for i in $(seq 30); do out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web.${namespace}.svc.cluster.local 80); case \\"$out\\" in \\"HTTP/1.\\"?\\" 200\\"*) echo \\"$out\\"; exit 0;; esac; echo \\"attempt $i: $(echo \\"$out\\" | head -n 1)\\"; sleep 1; done; exit 1"]
`;
}

describe.skipIf(skipped)("the local cluster (scripts/cluster, real processes)", () => {
  const startedHere = !alreadyUp;

  beforeAll(async () => {
    if (startedHere) {
      const up = await timedStep("cluster up", () => script("up.sh"));
      expect(up.status, up.stderr).toBe(0);
    }
    kubectl(["create", "namespace", namespace]);
  });

  afterAll(async () => {
    try {
      kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=120s"]);
    } finally {
      if (startedHere) {
        const down = await timedStep("cluster down", () => script("down.sh"));
        console.log(down.stderr);
        expect(down.status, down.stderr).toBe(0);
        expect(down.stderr).toContain("nothing of ours left");
      }
    }
  });

  it("serves /version as v1.34.x and has a Ready node of that version", () => {
    const version = JSON.parse(kubectl(["get", "--raw", "/version"])) as { gitVersion: string; major: string; minor: string };
    expect(version.gitVersion).toMatch(/^v1\.34\.\d+$/);
    expect(version.minor).toBe("34");
    const nodes = JSON.parse(kubectl(["get", "nodes", "-o", "json"])) as {
      items: { status: { nodeInfo: { kubeletVersion: string }; conditions: { type: string; status: string }[] } }[];
    };
    expect(nodes.items).toHaveLength(1);
    expect(nodes.items[0].status.nodeInfo.kubeletVersion).toBe(version.gitVersion);
    expect(nodes.items[0].status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("runs a Deployment, resolves its Service by DNS from another pod, binds a StatefulSet's claim and routes an Ingress on loopback", async () => {
    const busybox = images().IMAGE_BUSYBOX;
    expect(busybox).toBeTruthy();
    kubectl(["apply", "-f", "-"], workloads(busybox));
    await timedStep("Deployment web available", () => kubectl(["-n", namespace, "rollout", "status", "deploy/web", "--timeout=180s"]));
    const webPod = kubectl(["-n", namespace, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]).trim();
    expect(webPod).toMatch(/^web-/);

    await timedStep("StatefulSet store ready on a bound claim", () => kubectl(["-n", namespace, "rollout", "status", "statefulset/store", "--timeout=180s"]));
    const claim = JSON.parse(kubectl(["-n", namespace, "get", "pvc", "data-store-0", "-o", "json"])) as { status: { phase: string }; spec: { storageClassName: string } };
    expect(claim.status.phase).toBe("Bound");
    expect(claim.spec.storageClassName).toBe("standard");

    kubectl(["apply", "-f", "-"], dnsClient(busybox));
    const phase = await eventually("dns-client pod finished", 120_000, () => {
      const p = kubectl(["-n", namespace, "get", "pod", "dns-client", "-o", "jsonpath={.status.phase}"]).trim();
      return p === "Succeeded" || p === "Failed" ? p : undefined;
    });
    const clientLog = kubectl(["-n", namespace, "logs", "dns-client"]);
    expect(phase, clientLog).toBe("Succeeded");
    const serviceIp = kubectl(["-n", namespace, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]).trim();
    expect(clientLog).toContain(serviceIp);
    expect(clientLog).toContain(webPod);

    const body = await timedStep("Ingress answers on 127.0.0.1", () =>
      eventually("the Ingress route through Traefik", 120_000, async () => {
        const response = await ingressGet("web.cluster.test");
        return response.status === 200 ? response.body : undefined;
      }),
    );
    expect(body.trim()).toBe(webPod);
    expect((await ingressGet("nobody.cluster.test")).status).toBe(404);
  });

  it("reports node metrics through metrics-server", async () => {
    const usage = await timedStep("node metrics", () =>
      eventually("metrics.k8s.io node metrics", 180_000, () => {
        const list = JSON.parse(kubectl(["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])) as { items: { usage: { cpu: string; memory: string } }[] };
        return list.items[0]?.usage;
      }),
    );
    expect(usage.cpu).toMatch(/^\d+(n|u|m)?$/);
    expect(usage.memory).toMatch(/^\d+(Ki|Mi)?$/);
  });
});
