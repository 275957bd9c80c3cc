import type { Resources } from "../../config";
import { standardLabels } from "../shared/labels";
import { resolveSecretEnv } from "../shared/mlflowClientEnv";

/**
 * The vocabulary of container specs: plain descriptions of networks, volumes and containers.
 *
 * The Pulumi components map a spec onto @pulumi/docker resources; unit tests check the specs without
 * Pulumi. Secrets never appear in a spec: a spec names which secret an env var takes (`secretEnv`),
 * and the values are filled in at the last moment.
 */

/** Secrets a container may take as env; values come from Pulumi secrets or, in tests, random strings. */
export const secretNames = [
  "databasePassword",
  "objectStoreAccessKeyId",
  "objectStoreSecretAccessKey",
  "authAdminPassword",
  /** MLflow's basic-auth config and CSRF key, derived from authAdminPassword (see withAuthSecrets). */
  "authConfig",
  "flaskSecretKey",
  "trackingPassword",
  /** The inference API key of the model servers (serving.auth). */
  "servingApiKey",
] as const;
export type SecretName = (typeof secretNames)[number];
export type SecretValues = Partial<Readonly<Record<SecretName, string>>>;

export interface HealthcheckSpec {
  /** Docker form: `["CMD", ...argv]` or `["CMD-SHELL", "command"]`. */
  readonly test: readonly string[];
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly startPeriodSeconds: number;
}

export interface PortSpec {
  readonly internal: number;
  readonly external: number;
  /** Host address the port is published on; loopback unless the user asks for more. */
  readonly hostIp: string;
}

export interface MountSpec {
  readonly volume: string;
  readonly target: string;
}

/** A file placed in the container before it starts (never a secret: those go in env). */
export interface FileSpec {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

export interface ContainerSpec {
  /** What it does in the topology, e.g. `postgres`, `trainer-2`; also its DNS alias on the network. */
  readonly role: string;
  /** Container name, `<prefix>-<role>`: unique per topology, derived from the component name. */
  readonly name: string;
  readonly image: string;
  /** Overrides the image ENTRYPOINT when set. */
  readonly entrypoint?: readonly string[];
  /** Overrides the image CMD when non-empty. */
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Env var name -> the secret it holds. */
  readonly secretEnv: Readonly<Record<string, SecretName>>;
  readonly ports: readonly PortSpec[];
  readonly labels: Readonly<Record<string, string>>;
  readonly healthcheck?: HealthcheckSpec;
  /** Overrides the image USER when set. */
  readonly user?: string;
  readonly restart: "no" | "unless-stopped";
  readonly mounts: readonly MountSpec[];
  readonly files: readonly FileSpec[];
  readonly networkAliases: readonly string[];
  /** A job: started once, must exit 0; a server otherwise (kept running, waited on until healthy). */
  readonly runToCompletion: boolean;
  readonly memoryMb?: number;
  readonly cpus?: number;
}

export interface NetworkSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface VolumeSpec {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Containers in start groups: the members of a group start together, once every container of the
 * groups before is healthy (servers) or has exited 0 (jobs). `containers` is the same, flattened.
 */
export interface Topology {
  readonly volumes: readonly VolumeSpec[];
  readonly groups: readonly (readonly ContainerSpec[])[];
  readonly containers: readonly ContainerSpec[];
}

export function topologyOf(volumes: readonly VolumeSpec[], groups: readonly (readonly ContainerSpec[])[]): Topology {
  const nonEmpty = groups.filter((g) => g.length > 0);
  return { volumes, groups: nonEmpty, containers: nonEmpty.flat() };
}

/** Label every object of ours carries, so logs and clean-up find a topology by its prefix. */
export const topologyLabel = "io.mlops-pipeline.topology";
export const roleLabel = "io.mlops-pipeline.role";

export function objectLabels(prefix: string, app: string, role: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...standardLabels({ name: app, instance: prefix, component: role, managedBy: "pulumi" }), [topologyLabel]: prefix, [roleLabel]: role, ...extra };
}

export function networkSpec(name: string, prefix: string): NetworkSpec {
  return { name, labels: objectLabels(prefix, "network", "network") };
}

/** Defaults every container shares; builders override what differs. */
export function baseContainer(prefix: string, role: string, app: string, image: string): ContainerSpec {
  return {
    role,
    name: `${prefix}-${role}`,
    image,
    command: [],
    env: {},
    secretEnv: {},
    ports: [],
    labels: objectLabels(prefix, app, role),
    restart: "unless-stopped",
    mounts: [],
    files: [],
    networkAliases: [role],
    runToCompletion: false,
  };
}

/** Env as Docker takes it (`KEY=value`), secrets filled in; a missing secret is a programming error. */
export function resolveEnv(spec: Pick<ContainerSpec, "name" | "env" | "secretEnv">, secrets: SecretValues): string[] {
  const plain = Object.entries(spec.env).map(([key, value]) => `${key}=${value}`);
  try {
    const secret = Object.entries(resolveSecretEnv(spec, secrets)).map(([key, value]) => `${key}=${value}`);
    return [...plain, ...secret];
  } catch (err) {
    throw new Error(`container ${spec.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A health check that asks an HTTP path on the container's own port (python is in all our images). */
export function httpHealthcheck(port: number, path: string, startPeriodSeconds: number): HealthcheckSpec {
  const probe = `import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${port}${path}', timeout=4).status == 200 else 1)`;
  return { test: ["CMD", "python", "-c", probe], intervalSeconds: 3, timeoutSeconds: 5, retries: 40, startPeriodSeconds };
}

const memoryUnits: Readonly<Record<string, number>> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** Kubernetes-style limits (`1Gi`, `500m`) as Docker takes them: memory in MB, CPUs as a decimal. */
export function dockerLimits(resources: Pick<Resources, "cpuLimit" | "memoryLimit">): { memoryMb: number; cpus: number } {
  const memory = /^([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(resources.memoryLimit);
  if (!memory) throw new Error(`resources.memoryLimit '${resources.memoryLimit}': expected a quantity such as 512Mi or 2Gi`);
  const cpu = /^([0-9.]+)(m)?$/.exec(resources.cpuLimit);
  if (!cpu) throw new Error(`resources.cpuLimit '${resources.cpuLimit}': expected a quantity such as 500m or 2`);
  const bytes = Number(memory[1]) * (memoryUnits[memory[2] ?? ""] ?? 1);
  const memoryMb = Math.max(6, Math.floor(bytes / 1024 ** 2));
  const cpus = cpu[2] === "m" ? Number(cpu[1]) / 1000 : Number(cpu[1]);
  return { memoryMb, cpus };
}

export function withLimits(spec: ContainerSpec, resources: Pick<Resources, "cpuLimit" | "memoryLimit">): ContainerSpec {
  return { ...spec, ...dockerLimits(resources) };
}

/** Container names, aliases and labels come from the component name: Docker names allow `[a-zA-Z0-9_.-]`. */
export function validatePrefix(component: string, prefix: string): void {
  if (!/^[a-z0-9][a-z0-9_.-]{0,40}$/.test(prefix)) {
    throw new Error(`${component}: name '${prefix}' must be 1-41 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit (it prefixes container names)`);
  }
}
