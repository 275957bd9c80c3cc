import type { ServingConfig } from "../../config";
import { mlflowClientEnv } from "../shared/mlflowClientEnv";
import { loadBalancerConfigPath, loadBalancerEntrypoint, readLoadBalancerTemplate, renderLoadBalancerConfig } from "./loadBalancerConfig";
import { baseContainer, type ContainerSpec, httpHealthcheck, type Topology, topologyOf, withLimits } from "./specBasics";

/** Serving on the Docker platform: R model-server replicas behind nginx, as container specs. */

export interface ServingTopologyArgs {
  readonly prefix: string;
  readonly servingImage: string;
  readonly loadBalancerImage: string;
  readonly modelUri: string;
  readonly trackingUri: string;
  readonly serving: Pick<ServingConfig, "replicas" | "port" | "loadBalancerPort" | "resources">;
  readonly publishedPort: number;
  readonly publishHostIp: string;
  /** Changes when the champion changes: part of each replica's env, so replicas are replaced (one by one). */
  readonly modelVersion?: string;
  readonly trackingUsername?: string;
  /** serving.auth: replicas read the key from the `servingApiKey` secret (SERVING_API_KEY). */
  readonly auth?: boolean;
  /** Worker processes per replica (SERVING_WORKERS); default 1. */
  readonly workers?: number;
  /** The nginx template; read from images/loadbalancer when omitted. */
  readonly loadBalancerTemplate?: string;
}

export const replicaRole = (index: number) => `serving-${index}`;

function replicaContainer(args: ServingTopologyArgs, index: number): ContainerSpec {
  const role = replicaRole(index);
  const client = mlflowClientEnv({ trackingUri: args.trackingUri, username: args.trackingUsername });
  return withLimits(
    {
      ...baseContainer(args.prefix, role, "model-server", args.servingImage),
      env: {
        ...client.env,
        MODEL_URI: args.modelUri,
        HOST: "0.0.0.0",
        PORT: String(args.serving.port),
        REPLICA_ID: role,
        PYTHONUNBUFFERED: "1",
        OMP_NUM_THREADS: "1",
        SERVING_WORKERS: String(args.workers ?? 1),
        ...(args.modelVersion !== undefined ? { MODEL_VERSION: args.modelVersion } : {}),
      },
      secretEnv: { ...client.secretEnv, ...(args.auth ? { SERVING_API_KEY: "servingApiKey" as const } : {}) },
      healthcheck: httpHealthcheck(args.serving.port, "/ping", 30),
    },
    args.serving.resources,
  );
}

/** R replicas, then nginx with an upstream per replica, published on the host. */
export function servingTopology(
  args: ServingTopologyArgs,
): Topology & { readonly replicas: readonly ContainerSpec[]; readonly loadBalancer: ContainerSpec; readonly endpoint: string } {
  if (!Number.isInteger(args.serving.replicas) || args.serving.replicas < 1) throw new Error(`serving.replicas: expected an integer >= 1, got ${args.serving.replicas}`);
  const replicas = Array.from({ length: args.serving.replicas }, (_, i) => replicaContainer(args, i));
  const config = renderLoadBalancerConfig(args.loadBalancerTemplate ?? readLoadBalancerTemplate(), args.serving.loadBalancerPort, args.serving.replicas);
  // The balancer knows the replicas by alias, so it outlives a new champion: it follows the ready
  // replicas' addresses instead of being replaced (its published port would be down in between).
  const loadBalancer: ContainerSpec = {
    ...baseContainer(args.prefix, "loadbalancer", "nginx", args.loadBalancerImage),
    entrypoint: loadBalancerEntrypoint(replicas.map((r) => ({ host: r.role, port: args.serving.port }))),
    files: [{ path: loadBalancerConfigPath, content: config, mode: 0o644 }],
    ports: [{ internal: args.serving.loadBalancerPort, external: args.publishedPort, hostIp: args.publishHostIp }],
    memoryMb: 256,
    cpus: 0.5,
  };
  const host = args.publishHostIp === "0.0.0.0" ? "127.0.0.1" : args.publishHostIp;
  return { ...topologyOf([], [replicas, [loadBalancer]]), replicas, loadBalancer, endpoint: `http://${host}:${args.publishedPort}` };
}
