// The Pulumi environment of the Automation-API driver: which CLI, PULUMI_HOME, state backend, passphrase
// and offline flags. Same rules as scripts/env.sh (which the Makefile sources): the pinned CLI built by
// scripts/toolchain.sh in the cache, else a compatible `pulumi` on PATH.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";

/** No usable Pulumi CLI: the message tells the user what to run. */
export class ToolchainMissingError extends Error {
  constructor(detail: string) {
    super(`${detail}: run \`make toolchain\` (builds or finds the Pulumi CLI and plugins)`);
    this.name = "ToolchainMissingError";
  }
}

/** KEY=VALUE lines of scripts/toolchain/versions.env (comments and blank lines skipped). */
export function readToolchainVersions(repoDir: string): Record<string, string> {
  const file = path.join(repoDir, "scripts", "toolchain", "versions.env");
  const versions: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) versions[match[1]] = match[2];
  }
  return versions;
}

export interface ToolchainPaths {
  readonly cacheDir: string;
  /** Folder of the pinned CLI built by scripts/toolchain.sh (with our nodejs language host beside it). */
  readonly pinnedCliBinDir: string;
  /** Folder of our language host when a CLI from PATH without its own host is used. */
  readonly nodejsHostBinDir: string;
  readonly pulumiHome: string;
  readonly stateDir: string;
  readonly backendUrl: string;
  readonly cliVersion: string;
  readonly minCliVersion: string;
}

export function toolchainPaths(repoDir: string, env: NodeJS.ProcessEnv = process.env): ToolchainPaths {
  const versions = readToolchainVersions(repoDir);
  const cacheDir = env.MLOPS_CACHE_DIR || path.join(env.HOME || os.homedir(), ".cache", "mlops-pipeline");
  const stateDir = path.join(repoDir, ".pulumi-state");
  return {
    cacheDir,
    pinnedCliBinDir: path.join(cacheDir, "toolchain", `pulumi-v${versions.PULUMI_CLI_VERSION}`, "bin"),
    nodejsHostBinDir: path.join(cacheDir, "toolchain", "nodejs-host", "bin"),
    pulumiHome: env.MLOPS_PULUMI_HOME || path.join(cacheDir, "pulumi-home"),
    stateDir,
    backendUrl: env.PULUMI_BACKEND_URL || `file://${stateDir}`,
    cliVersion: versions.PULUMI_CLI_VERSION,
    minCliVersion: versions.PULUMI_CLI_MIN_VERSION,
  };
}

/**
 * The user's own passphrase (PULUMI_CONFIG_PASSPHRASE or _FILE) wins; otherwise a random one is generated
 * once into `<stateDir>/passphrase` with mode 0600. Returns the variables to export; never the value itself
 * unless the user supplied it in the environment already.
 */
export function passphraseEnv(stateDir: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE };
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return { PULUMI_CONFIG_PASSPHRASE_FILE: env.PULUMI_CONFIG_PASSPHRASE_FILE };
  const file = path.join(stateDir, "passphrase");
  fs.mkdirSync(stateDir, { recursive: true });
  if (!fs.existsSync(file) || fs.statSync(file).size === 0) {
    // Written to a temp file and renamed, so a concurrent reader never sees a half-written passphrase.
    const tmp = `${file}.tmp.${process.pid}`;
    fs.writeFileSync(tmp, crypto.randomBytes(32).toString("base64url"), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  fs.chmodSync(file, 0o600);
  return { PULUMI_CONFIG_PASSPHRASE_FILE: file };
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** First `name` on a PATH string that is an executable file. */
export function findOnPath(name: string, pathValue: string | undefined): string | undefined {
  for (const dir of (pathValue ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The pulumi binary to use and the folders to put first on PATH, or a ToolchainMissingError. */
export function locatePulumiCli(paths: ToolchainPaths, env: NodeJS.ProcessEnv = process.env): { cli: string; pathDirs: string[] } {
  const pinned = path.join(paths.pinnedCliBinDir, "pulumi");
  if (isExecutable(pinned)) return { cli: pinned, pathDirs: [paths.pinnedCliBinDir] };
  const ambient = findOnPath("pulumi", env.PATH);
  if (!ambient) throw new ToolchainMissingError(`no Pulumi CLI at ${pinned} and none on PATH`);
  const ownHost = isExecutable(path.join(path.dirname(fs.realpathSync(ambient)), "pulumi-language-nodejs"));
  return { cli: ambient, pathDirs: ownHost ? [] : [paths.nodejsHostBinDir] };
}

/** Prepends folders to a PATH value, skipping ones already present. */
export function prependPath(pathValue: string | undefined, dirs: readonly string[]): string {
  const current = (pathValue ?? "").split(path.delimiter).filter(Boolean);
  return [...dirs.filter((dir) => !current.includes(dir)), ...current].join(path.delimiter);
}

/** Every variable the CLI needs here; values the user already set (backend, passphrase) are kept. */
export function pulumiEnvVars(repoDir: string, pathDirs: readonly string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const paths = toolchainPaths(repoDir, env);
  if (paths.backendUrl.startsWith("file://")) fs.mkdirSync(paths.backendUrl.slice("file://".length), { recursive: true });
  return {
    PATH: prependPath(env.PATH, [...pathDirs, path.join(repoDir, "node_modules", ".bin")]),
    PULUMI_HOME: paths.pulumiHome,
    PULUMI_BACKEND_URL: paths.backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    ...passphraseEnv(paths.stateDir, env),
  };
}

function semverAtLeast(version: string, minimum: string): boolean {
  const parse = (v: string) => v.replace(/^v/, "").split(/[-+]/)[0].split(".").map(Number);
  const [a, b] = [parse(version), parse(minimum)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/**
 * LocalWorkspace options for the Automation API: the CLI (version-checked against versions.env) and the
 * environment for every CLI call. `repoDir` is the checkout holding scripts/toolchain, node_modules and
 * .pulumi-state.
 */
export async function pulumiWorkspace(repoDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ pulumiCommand: PulumiCommand; envVars: Record<string, string> }> {
  const paths = toolchainPaths(repoDir, env);
  const { cli, pathDirs } = locatePulumiCli(paths, env);
  // PulumiCommand runs `<root>/bin/pulumi`; a CLI outside a bin/ folder is taken from PATH instead.
  const root = path.basename(path.dirname(cli)) === "bin" ? path.dirname(path.dirname(cli)) : undefined;
  let pulumiCommand: PulumiCommand;
  try {
    pulumiCommand = await PulumiCommand.get({ root, skipVersionCheck: true });
  } catch (err) {
    throw new ToolchainMissingError(`the Pulumi CLI at ${cli} does not run (${err instanceof Error ? err.message.split("\n")[0] : err})`);
  }
  const version = pulumiCommand.version?.toString() ?? "";
  if (!semverAtLeast(version, paths.minCliVersion)) {
    throw new ToolchainMissingError(`the Pulumi CLI at ${cli} is v${version}, older than the v${paths.minCliVersion} this project needs`);
  }
  return { pulumiCommand, envVars: pulumiEnvVars(repoDir, pathDirs, env) };
}
