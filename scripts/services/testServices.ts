import { execFileSync, type ExecFileSyncOptions } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * For integration tests and benchmarks: starts the real PostgreSQL, SeaweedFS and MLflow servers
 * of scripts/services/ on loopback and gives typed access to them.
 */

export const repoRoot = path.resolve(__dirname, "..", "..");
const servicesDir = path.join(repoRoot, "scripts", "services");

/** Why the services cannot start on this machine, or undefined when they can (possibly after building). */
export function servicesUnavailableReason(): string | undefined {
  const venv = process.env.MLOPS_PYTHON_VENV ?? path.join(repoRoot, ".venv");
  if (!fs.existsSync(path.join(venv, "bin", "python")) && !fs.existsSync(path.join(repoRoot, "scripts", "python-env.sh"))) {
    return `no Python environment at ${venv} and no scripts/python-env.sh to create it`;
  }
  if (!process.env.MLOPS_WEED_BIN && !fs.existsSync(path.join(repoRoot, "scripts", "toolchain.sh"))) return "no MLOPS_WEED_BIN and no scripts/toolchain.sh to build SeaweedFS";
  const hasPostgres = fs.existsSync("/usr/lib/postgresql") && fs.readdirSync("/usr/lib/postgresql").some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`));
  if (!hasPostgres && process.getuid?.() !== 0) return "PostgreSQL server binaries are missing and only root can install them (bash scripts/packages.sh install services)";
  return undefined;
}

/** Runs a service script; its progress lines go to this process's stderr. */
export function serviceScript(script: "postgres" | "seaweedfs" | "mlflow", args: readonly string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync("bash", [path.join(servicesDir, `${script}.sh`), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...options }).toString();
}

export interface TrackingServices {
  readonly trackingUri: string;
  readonly s3Endpoint: string;
  /** The venv's python, for MLflow's own client and boto3. */
  readonly python: string;
}

/** Starts (or reuses) PostgreSQL, SeaweedFS and MLflow; idempotent. */
export function startTrackingServices(): TrackingServices {
  serviceScript("mlflow", ["start"]);
  return {
    trackingUri: serviceScript("mlflow", ["url"]).trim(),
    s3Endpoint: serviceScript("seaweedfs", ["endpoint"]).trim(),
    python: path.join(process.env.MLOPS_PYTHON_VENV ?? path.join(repoRoot, ".venv"), "bin", "python"),
  };
}

/** The S3 client environment (endpoint and keys) from `seaweedfs.sh env`. Holds secrets: never print it. */
export function s3Environment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of serviceScript("seaweedfs", ["env"]).split("\n")) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) env[match[1]] = match[2];
  }
  return env;
}

/** Runs SQL as the `mlflow` role (in its `mlflow` database, or `database`); returns psql's unaligned, tuples-only output. */
export function psql(sql: string, database?: string): string {
  const env = database === undefined ? process.env : { ...process.env, MLOPS_POSTGRES_DATABASE: database };
  return serviceScript("postgres", ["psql", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql], { env }).trim();
}

/** Runs a Python snippet with the venv; `env` replaces the S3/MLflow variables of this process. */
export function runPython(python: string, code: string, env: Record<string, string | undefined>): string {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(AWS_|MLFLOW_)/.test(key)));
  return execFileSync(python, ["-c", code], { encoding: "utf8", env: { ...base, ...env } as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
}
