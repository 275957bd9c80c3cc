import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type ContainerSpec, type NetworkSpec, type SecretValues, type VolumeSpec, resolveEnv } from "./specBasics";

/**
 * Maps container specs onto @pulumi/docker resources. Kept apart from the components so the three of
 * them deploy specs the same way: image by RemoteImage (kept locally, so locally built images work),
 * secret env as a Pulumi secret, jobs attached until they exit, servers waited on until healthy.
 */

/** How long a replaced replica gets to finish its requests after SIGTERM before it is killed. */
export const rollingStopGraceSeconds = 10;

/** How long `pulumi up` waits for a server's HEALTHCHECK to pass. */
export const healthWaitSeconds = 300;

const labelList = (labels: Readonly<Record<string, string>>) => Object.entries(labels).map(([label, value]) => ({ label, value }));

/** Env values only known at deployment (e.g. a tracking URI from another stack), by variable name. */
export type LateEnv = Readonly<Record<string, pulumi.Input<string>>>;

/**
 * Env for the container: plain when it needs no secret, otherwise the whole list is a Pulumi secret.
 * A late value only fills a variable the spec declares, so one component's late env reaches the
 * containers that use it and not, say, its load balancer (which a new value would replace).
 */
export function containerEnv(spec: ContainerSpec, secrets: pulumi.Input<SecretValues>, lateEnv: LateEnv = {}): pulumi.Input<string[]> {
  const late = Object.fromEntries(Object.entries(lateEnv).filter(([key]) => key in spec.env));
  const hasSecrets = Object.keys(spec.secretEnv).length > 0;
  if (!hasSecrets && Object.keys(late).length === 0) return resolveEnv(spec, {});
  const withLate = (values: SecretValues, lateValues: Record<string, string>) => resolveEnv({ ...spec, env: { ...spec.env, ...lateValues } }, values);
  // Only a container that takes a secret gets secret env: `all` over the secrets would taint the rest.
  if (!hasSecrets) return pulumi.output(late).apply((lateValues) => withLate({}, lateValues));
  return pulumi.secret(pulumi.all([secrets, late]).apply(([values, lateValues]) => withLate(values, lateValues)));
}

/** CPUs in the provider's own notation (whole numbers keep one decimal: "1.0", "0.5", "1.25"). */
export function dockerCpus(cpus: number): string {
  return Number.isInteger(cpus) ? cpus.toFixed(1) : String(cpus);
}

export function containerArgs(
  spec: ContainerSpec,
  image: pulumi.Input<string>,
  networkName: pulumi.Input<string>,
  secrets: pulumi.Input<SecretValues>,
  late: LateEnv = {},
): docker.ContainerArgs {
  const job = spec.runToCompletion;
  return {
    name: spec.name,
    image,
    ...(spec.entrypoint ? { entrypoints: [...spec.entrypoint] } : {}),
    ...(spec.command.length > 0 ? { command: [...spec.command] } : {}),
    envs: containerEnv(spec, secrets, late),
    labels: labelList(spec.labels),
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    ports: spec.ports.map((p) => ({ internal: p.internal, external: p.external, ip: p.hostIp })),
    ...(spec.healthcheck
      ? {
          healthcheck: {
            tests: [...spec.healthcheck.test],
            interval: `${spec.healthcheck.intervalSeconds}s`,
            timeout: `${spec.healthcheck.timeoutSeconds}s`,
            retries: spec.healthcheck.retries,
            startPeriod: `${spec.healthcheck.startPeriodSeconds}s`,
          },
        }
      : {}),
    restart: spec.restart,
    volumes: spec.mounts.map((m) => ({ volumeName: m.volume, containerPath: m.target })),
    uploads: spec.files.map((f) => ({ file: f.path, content: f.content, permissions: `0${f.mode.toString(8)}` })),
    networksAdvanced: [{ name: networkName, aliases: [...spec.networkAliases] }],
    // Both as the provider reads them back, or every `up` sees a diff: memory + swap = memory (no swap;
    // left unset, Docker makes it twice the memory) and CPUs as "1.0" for whole numbers (`cpus` forces a replace).
    ...(spec.memoryMb !== undefined ? { memory: spec.memoryMb, memorySwap: spec.memoryMb } : {}),
    ...(spec.cpus !== undefined ? { cpus: dockerCpus(spec.cpus) } : {}),
    // A job runs once and is waited for (attach); a server must keep running and pass its health check.
    mustRun: !job,
    attach: job,
    logs: job,
    wait: !job && spec.healthcheck !== undefined,
    waitTimeout: healthWaitSeconds,
  };
}

/** One RemoteImage per distinct reference, kept locally so an image built on the engine is used as is. */
export class ImageSet {
  private readonly images = new Map<string, docker.RemoteImage>();

  constructor(
    private readonly name: string,
    private readonly parent: pulumi.Resource,
    /** Resources an image needs first, e.g. the DockerDerivedImage that builds it. */
    private readonly dependsOn: pulumi.Resource[] = [],
  ) {}

  imageId(ref: string, role: string): pulumi.Output<string> {
    let image = this.images.get(ref);
    if (!image) {
      image = new docker.RemoteImage(
        `${this.name}-${role}-image`,
        { name: ref, keepLocally: true },
        { parent: this.parent, ...(this.dependsOn.length > 0 ? { dependsOn: this.dependsOn } : {}) },
      );
      this.images.set(ref, image);
    }
    return image.imageId;
  }
}

/** Volumes and networks are named by their spec (`<component>-<role>`), which is also their Pulumi name. */
export function deployVolume(spec: VolumeSpec, parent: pulumi.Resource): docker.Volume {
  return new docker.Volume(spec.name, { name: spec.name, labels: labelList(spec.labels) }, { parent });
}

export function deployNetwork(resourceName: string, spec: NetworkSpec, parent: pulumi.Resource): docker.Network {
  return new docker.Network(resourceName, { name: spec.name, driver: "bridge", labels: labelList(spec.labels) }, { parent });
}

/** A job's outcome: its exit code when 0, otherwise an error naming the container with its last log lines. */
export function jobOutcome(spec: Pick<ContainerSpec, "name">, code: number, logs: string | undefined): number {
  if (code === 0) return code;
  const tail = (logs ?? "").trim().split("\n").slice(-20).join("\n");
  throw new Error(`container ${spec.name} exited with code ${code}; last log lines:\n${tail}`);
}

/** Fails the deployment when a job exited non-zero (every later container waits on this). */
export function checkedExitCode(spec: ContainerSpec, container: docker.Container): pulumi.Output<number> {
  return pulumi.all([container.exitCode, container.containerLogs]).apply(([code, logs]) => jobOutcome(spec, code, logs));
}

export interface DeployedContainers {
  readonly containers: docker.Container[];
  /** Resolves once every job exited 0 (and fails the deployment otherwise). */
  readonly jobsSucceeded: pulumi.Output<number[]>;
}

/**
 * Creates containers group by group; a group starts after every container before it exists (servers
 * healthy, jobs exited) and after every earlier job's exit code was checked, so nothing runs on top
 * of a failed job. Containers within a group start together.
 */
export function deployContainers(
  name: string,
  groups: readonly (readonly ContainerSpec[])[],
  ctx: {
    images: ImageSet;
    networkName: pulumi.Input<string>;
    secrets: pulumi.Input<SecretValues>;
    parent: pulumi.Resource;
    dependsOn?: pulumi.Input<pulumi.Resource>[];
    lateEnv?: LateEnv;
    /**
     * Roles replaced one at a time, each new container running next to the old one: they are named by
     * Pulumi (`<resource name>-<random suffix>`) instead of by spec, so the replacement's name is free,
     * and created in order. Every other container keeps its fixed name and is deleted before its
     * replacement is created (the provider's default; fixed names and published ports require it).
     */
    rolling?: readonly string[];
  },
): DeployedContainers {
  const containers: docker.Container[] = [];
  const checks: pulumi.Output<number>[] = [];
  let before: pulumi.Input<pulumi.Resource>[] = ctx.dependsOn ?? [];
  for (const group of groups) {
    const earlierJobs = pulumi.all([...checks]);
    let previousRolling: docker.Container | undefined;
    const created = group.map((spec) => {
      const rolling = ctx.rolling?.includes(spec.role) ?? false;
      const { name: fixedName, ...unnamed } = containerArgs(spec, ctx.images.imageId(spec.image, spec.role), ctx.networkName, ctx.secrets, ctx.lateEnv);
      // A replaced replica is stopped with SIGTERM and time to finish its in-flight requests, not killed at once.
      const args: docker.ContainerArgs = rolling ? { ...unnamed, destroyGraceSeconds: rollingStopGraceSeconds } : { ...unnamed, name: fixedName };
      // Same labels, but only once earlier jobs succeeded: a failed check stops this container's creation.
      const gated = { ...args, labels: earlierJobs.apply(() => labelList(spec.labels)) };
      const opts: pulumi.CustomResourceOptions = rolling
        ? { parent: ctx.parent, dependsOn: previousRolling ? [...before, previousRolling] : before, deleteBeforeReplace: false }
        : { parent: ctx.parent, dependsOn: before };
      const container = new docker.Container(`${name}-${spec.role}`, checks.length > 0 ? gated : args, opts);
      if (rolling) previousRolling = container;
      if (spec.runToCompletion) checks.push(checkedExitCode(spec, container));
      return container;
    });
    containers.push(...created);
    before = [...before, ...created];
  }
  return { containers, jobsSucceeded: pulumi.all(checks) };
}
