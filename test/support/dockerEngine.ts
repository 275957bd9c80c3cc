import { spawnSync } from "node:child_process";
import { topologyLabel } from "../../components/docker/specBasics";
import { repoRoot } from "./pipelineStack";
import { skipOrFailInCI } from "./skips";

/**
 * The Docker engine as the docker e2e tests see it: the docker CLI, why the engine or the @pulumi/docker
 * plugin cannot be had here, the locally built stand-in images, and a stack's containers, networks and
 * volumes found by the topology label every object of ours carries (independently of the code under test).
 */

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `file args` in the repo, synchronously; `env` replaces the environment (secrets go there, never in args). */
export function run(file: string, args: readonly string[], timeoutMs = 600_000, env: NodeJS.ProcessEnv = process.env): RunResult {
  const res = spawnSync(file, args, { cwd: repoRoot, encoding: "utf8", timeout: timeoutMs, env });
  return { status: res.status ?? -1, stdout: res.stdout ?? "", stderr: `${res.stderr ?? ""}${res.error ? String(res.error) : ""}` };
}

/** The docker CLI; throws with its error output on a non-zero exit. */
export function docker(...args: string[]): string {
  const res = run("docker", args, 60_000);
  if (res.status !== 0) throw new Error(`docker ${args.join(" ")}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

/** Why a docker e2e suite cannot run here (no engine can be started, no toolchain, no docker plugin), or undefined. */
export function dockerUnavailableReason(): string | undefined {
  const engine = run("bash", ["scripts/docker/engine.sh", "start"], 300_000);
  if (engine.status !== 0) return `no Docker engine could be started: ${engine.stderr.trim().split("\n").slice(-2).join(" | ")}`;
  if (run("bash", ["scripts/toolchain.sh", "check"]).status !== 0) return "the Pulumi toolchain is not built (run `make toolchain`)";
  const plugin = run("bash", ["scripts/require-platform.sh", "docker"]);
  if (plugin.status !== 0) return `the @pulumi/docker plugin is not installed: ${plugin.stderr.trim().split("\n")[0]}`;
  return undefined;
}

/** Skips (printing why) where the suite cannot run; in CI a missing engine or plugin fails instead (test/support/skips.ts). */
export const dockerSuiteSkipped = (suite: string): boolean => skipOrFailInCI(suite, dockerUnavailableReason());

/** `<role>=<image>` lines of scripts/docker/base-image.sh (cached: only builds what is missing). */
export function standInImages(): Record<string, string> {
  const res = run("bash", ["scripts/docker/base-image.sh", "all"], 1_200_000);
  if (res.status !== 0) throw new Error(`scripts/docker/base-image.sh all failed:\n${res.stderr.split("\n").slice(-15).join("\n")}`);
  return Object.fromEntries(res.stdout.split("\n").flatMap((l) => (/^\w+=/.test(l) ? [l.split(/=(.*)/s).slice(0, 2) as [string, string]] : [])));
}

export interface ContainerRow {
  readonly name: string;
  readonly state: string;
  readonly status: string;
  readonly topology: string;
}

/** The topology prefixes of a pipeline stack's three phase stacks. */
export const stackPrefixes = (stack: string): string[] => ["tracking", "training", "serving"].map((p) => `${stack}-${p}`);

/** Every container of the stack on the engine (running or not), by its topology label. */
export function stackContainers(stack: string): ContainerRow[] {
  const prefixes = stackPrefixes(stack);
  return docker("ps", "--all", "--filter", `label=${topologyLabel}`, "--format", `{{.Names}}\t{{.State}}\t{{.Status}}\t{{.Label "${topologyLabel}"}}`)
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name = "", state = "", status = "", topology = ""] = line.split("\t");
      return { name, state, status, topology };
    })
    .filter((c) => prefixes.includes(c.topology));
}

/** Networks and volumes of the stack, by the same label, as `network <name>` / `volume <name>`. */
export function stackNetworksAndVolumes(stack: string): string[] {
  const prefixes = stackPrefixes(stack);
  const labelled = (kind: "network" | "volume") =>
    docker(kind, "ls", "--filter", `label=${topologyLabel}`, "--format", `{{.Name}}\t{{.Label "${topologyLabel}"}}`)
      .split("\n")
      .filter(Boolean)
      .map((line) => line.split("\t"))
      .filter(([, topology]) => prefixes.includes(topology ?? ""))
      .map(([name]) => `${kind} ${name}`);
  return [...labelled("network"), ...labelled("volume")];
}

/** Force-removes what a failed `mlflow-remove` left of the stack, so the next run starts clean; returns what it removed. */
export function forceRemoveStack(stack: string): string[] {
  const removed: string[] = [];
  for (const c of stackContainers(stack)) {
    run("docker", ["rm", "--force", c.name]);
    removed.push(`container ${c.name}`);
  }
  for (const item of stackNetworksAndVolumes(stack)) {
    const [kind = "", name = ""] = item.split(" ");
    run("docker", [kind, "rm", name]);
    removed.push(item);
  }
  return removed;
}
