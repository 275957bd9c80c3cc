import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ModelServing, ModelServingArgs } from "../interfaces";
import { checkedFor } from "../shared/resourceError";
import { localClientEnv } from "./clientEnv";
import { LocalProcess } from "./localProcess";
import type { LocalPaths } from "./paths";

export interface LocalModelServingArgs extends ModelServingArgs {
  readonly paths: LocalPaths;
  /** The Node.js binary that runs the load balancer. */
  readonly nodeBinary?: string;
}

/** Replica i listens on `port + i`; the load balancer on `loadBalancerPort`. */
export function replicaPorts(port: number, replicas: number, loadBalancerPort: number): number[] {
  const ports = Array.from({ length: replicas }, (_, i) => port + i);
  if (ports.includes(loadBalancerPort)) throw new Error(`serving.loadBalancerPort ${loadBalancerPort} collides with the replica ports ${ports[0]}..${ports.at(-1)}: choose a port outside that range`);
  if (ports.some((p) => p > 65535)) throw new Error(`serving.port ${port} + ${replicas} replicas exceeds 65535`);
  return ports;
}

export function loadBalancerCommand(paths: LocalPaths, nodeBinary: string, listenPort: number, upstreamPorts: readonly number[]): string[] {
  const script = path.join(paths.workDir, "components", "local", "loadBalancer.ts");
  return [nodeBinary, "--import", "tsx", script, "--listen", `127.0.0.1:${listenPort}`, ...upstreamPorts.flatMap((p) => ["--upstream", `http://127.0.0.1:${p}`])];
}

/** R model-server processes behind a round-robin load balancer, all supervised. */
export class LocalModelServing extends pulumi.ComponentResource implements ModelServing {
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: LocalModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:local:ModelServing", name, {}, opts);
    const { paths, serving } = args;
    const ports = checkedFor(this, () => replicaPorts(serving.port, serving.replicas, serving.loadBalancerPort));
    const client = localClientEnv(args.trackingUri, args.trackingCredentials);
    const replicas = ports.map(
      (port, i) =>
        new LocalProcess(
          `${name}-replica-${i}`,
          {
            command: [paths.python, path.join(paths.workDir, "images", "serving", "server.py")],
            cwd: paths.workDir,
            env: { ...client.env, MODEL_URI: args.modelUri, PORT: String(port), HOST: "127.0.0.1", REPLICA_ID: `replica-${i}` },
            secretEnv: client.secretEnv,
            logFile: `${paths.logDir}/serving-replica-${i}.log`,
            pidFile: `${paths.runDir}/serving-replica-${i}.pid`,
            healthUrl: `http://127.0.0.1:${port}/health`,
            startTimeoutSeconds: 180,
            restartTrigger: pulumi.output(args.modelVersion ?? "").apply((v) => `model-version=${v}`),
          },
          { parent: this },
        ),
    );
    const balancer = new LocalProcess(
      `${name}-lb`,
      {
        command: loadBalancerCommand(paths, args.nodeBinary ?? process.execPath, serving.loadBalancerPort, ports),
        cwd: paths.workDir,
        env: {},
        logFile: `${paths.logDir}/serving-lb.log`,
        pidFile: `${paths.runDir}/serving-lb.pid`,
        healthUrl: `http://127.0.0.1:${serving.loadBalancerPort}/lb/health`,
        startTimeoutSeconds: 60,
      },
      { parent: this, dependsOn: replicas },
    );
    this.endpoint = balancer.pid.apply(() => `http://127.0.0.1:${serving.loadBalancerPort}`);
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
