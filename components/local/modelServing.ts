import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ModelServing, ModelServingArgs } from "../interfaces";
import { balancerLimits } from "../shared/balancerLimits";
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
  if (ports.includes(loadBalancerPort))
    throw new Error(`serving.loadBalancerPort ${loadBalancerPort} collides with the replica ports ${ports[0]}..${ports.at(-1)}: choose a port outside that range`);
  if (ports.some((p) => p > 65535)) throw new Error(`serving.port ${port} + ${replicas} replicas exceeds 65535`);
  return ports;
}

const localScript = (paths: LocalPaths, file: string) => path.join(paths.workDir, "components", "local", file);

/** `command` under keepAlive.ts, which starts it again whenever it dies. */
export function supervisedCommand(paths: LocalPaths, nodeBinary: string, command: readonly string[]): string[] {
  return [nodeBinary, "--import", "tsx", localScript(paths, "keepAlive.ts"), "--", ...command];
}

export function loadBalancerCommand(paths: LocalPaths, nodeBinary: string, listenPort: number, upstreamPorts: readonly number[]): string[] {
  const upstreams = upstreamPorts.flatMap((p) => ["--upstream", `http://127.0.0.1:${p}`]);
  return supervisedCommand(paths, nodeBinary, [nodeBinary, "--import", "tsx", localScript(paths, "loadBalancer.ts"), "--listen", `127.0.0.1:${listenPort}`, ...upstreams]);
}

/** A digest of the balancer's code (this checkout's): a new version restarts the running balancer. */
export function loadBalancerCodeDigest(): string {
  return createHash("sha256")
    .update(fs.readFileSync(path.join(__dirname, "loadBalancer.ts")))
    .digest("hex")
    .slice(0, 16);
}

/** The API key file of a stack's replicas: under `.pipeline/run/<stack>/`, mode 0600. */
export const apiKeyFile = (paths: LocalPaths) => path.join(paths.runDir, "serving-api-key");

/**
 * R model-server processes behind a round-robin load balancer, each under keepAlive.ts.
 *
 * A new champion rolls through the replicas one at a time: each replica `dependsOn` the one before,
 * and a new model version is an in-place restart (LocalProcess.update: drain, stop, start, wait until
 * `/health` says the model is loaded), so Pulumi restarts replica i+1 only after replica i serves the
 * new model. Meanwhile the balancer's health checks keep requests on the replicas that are ready.
 * With one replica there is nobody to take over: the balancer answers 503 (Retry-After) while it loads.
 */
export class LocalModelServing extends pulumi.ComponentResource implements ModelServing {
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: LocalModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:local:ModelServing", name, {}, opts);
    const { paths, serving } = args;
    const nodeBinary = args.nodeBinary ?? process.execPath;
    const ports = checkedFor(this, () => replicaPorts(serving.port, serving.replicas, serving.loadBalancerPort));
    const client = localClientEnv(args.trackingUri, args.trackingCredentials);
    const keyFile = apiKeyFile(paths);
    const auth = args.apiKey === undefined ? undefined : pulumi.secret(pulumi.output(args.apiKey).apply((content) => ({ path: keyFile, content, mode: 0o600 })));
    const replicas: LocalProcess[] = [];
    for (const [i, port] of ports.entries()) {
      const previous = replicas.at(-1);
      replicas.push(
        new LocalProcess(
          `${name}-replica-${i}`,
          {
            command: supervisedCommand(paths, nodeBinary, [paths.python, path.join(paths.workDir, "images", "serving", "server.py")]),
            cwd: paths.workDir,
            env: {
              ...client.env,
              MODEL_URI: args.modelUri,
              PORT: String(port),
              HOST: "127.0.0.1",
              REPLICA_ID: `replica-${i}`,
              SERVING_WORKERS: String(args.workers ?? 1),
              ...(auth ? { SERVING_API_KEY_FILE: keyFile } : {}),
            },
            secretEnv: client.secretEnv,
            files: auth ? auth.apply((file) => [file]) : [],
            logFile: `${paths.logDir}/serving-replica-${i}.log`,
            pidFile: `${paths.runDir}/serving-replica-${i}.pid`,
            healthUrl: `http://127.0.0.1:${port}/health`,
            startTimeoutSeconds: 180,
            restartTrigger: pulumi.output(args.modelVersion ?? "").apply((v) => `model-version=${v}`),
          },
          { parent: this, dependsOn: previous ? [previous] : [] },
        ),
      );
    }
    const balancer = new LocalProcess(
      `${name}-lb`,
      {
        command: loadBalancerCommand(paths, nodeBinary, serving.loadBalancerPort, ports),
        cwd: paths.workDir,
        env: {},
        logFile: `${paths.logDir}/serving-lb.log`,
        pidFile: `${paths.runDir}/serving-lb.pid`,
        healthUrl: `http://127.0.0.1:${serving.loadBalancerPort}${balancerLimits.healthPath}`,
        startTimeoutSeconds: 60,
        restartTrigger: `code=${loadBalancerCodeDigest()}`,
        stopGraceSeconds: 10,
      },
      { parent: this, dependsOn: replicas },
    );
    this.endpoint = balancer.pid.apply(() => `http://127.0.0.1:${serving.loadBalancerPort}`);
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
