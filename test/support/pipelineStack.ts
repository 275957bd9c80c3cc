import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { localPaths } from "../../components/local/paths";
import { loadStackConfig, type StackConfig } from "../../config";
import { type CommandResult, type RunningCommand, runCommand, startCommand } from "./commands";

/**
 * A private pipeline stack for one test file: its own `Pulumi.<stack>.yaml` (a copy of the shipped
 * local stack with the test's changes, mode 0600), its own ports, logs and pid files, driven
 * through `make` and the driver exactly as a user would. Secrets reach the children only through
 * their environment, never a file or a command line.
 */

export const repoRoot = path.resolve(__dirname, "..", "..");

/** The `mlops:` sections a test changes; each replaces the keys it names in the base stack's section. */
export type StackOverrides = Partial<Record<"platform" | "tracking" | "training" | "serving" | "images" | "docker", unknown>>;

export interface PhaseRecord {
  readonly name: string;
  readonly seconds: number;
  readonly resourceChanges: number;
  readonly detail?: Record<string, unknown>;
}

export interface LastRun {
  readonly stack: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly phases: readonly PhaseRecord[];
}

export function phase(run: LastRun, name: string): PhaseRecord {
  const found = run.phases.find((p) => p.name === name);
  if (!found) throw new Error(`phase ${name} missing from the run record: ${JSON.stringify(run.phases.map((p) => p.name))}`);
  return found;
}

/** A long make target or driver run: well above the slowest cold run seen, below the tier's limit. */
const commandTimeoutMs = 15 * 60_000;

export class TestStack {
  readonly file: string;
  readonly logDir: string;
  readonly runDir: string;

  /** `secretEnv` is read at each command, so a test can fill it in after starting its services. */
  constructor(
    readonly name: string,
    private readonly secretEnv: () => Record<string, string> = () => ({}),
  ) {
    this.file = path.join(repoRoot, `Pulumi.${name}.yaml`);
    this.logDir = path.join(repoRoot, ".pipeline", "logs", name);
    this.runDir = path.join(repoRoot, ".pipeline", "run", name);
  }

  /** Writes the stack file: Pulumi.<base>.yaml (default the local stack) with `overrides` merged into its `mlops:` sections. */
  write(overrides: StackOverrides, writer: string, base = "local"): void {
    const local = parseYaml(fs.readFileSync(path.join(repoRoot, `Pulumi.${base}.yaml`), "utf8")) as { config: Record<string, unknown>; encryptionsalt?: string };
    delete local.encryptionsalt; // a developer's `pulumi stack init local` salt belongs to their passphrase
    for (const [section, value] of Object.entries(overrides)) {
      const key = `mlops:${section}`;
      const base = local.config[key];
      const mergeable = typeof base === "object" && base !== null && typeof value === "object" && value !== null;
      local.config[key] = mergeable ? { ...base, ...value } : value;
    }
    fs.writeFileSync(this.file, `# written by ${writer}; removed after the test\n${toYaml(local)}`, { mode: 0o600 });
    fs.chmodSync(this.file, 0o600);
  }

  config(): StackConfig {
    return loadStackConfig(repoRoot, this.name);
  }

  private env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return { ...process.env, ...this.secretEnv(), ...extra };
  }

  /** `make <target> STACK=<stack>` with the stack's secrets in the environment. */
  async make(target: string, extra: Record<string, string> = {}): Promise<CommandResult> {
    return runCommand(`make ${target} STACK=${this.name}`, "make", ["--no-print-directory", target, `STACK=${this.name}`], {
      cwd: repoRoot,
      env: this.env(extra),
      timeoutMs: commandTimeoutMs,
    });
  }

  /** `npm run pipeline -- --stack <stack> <args>` with the toolchain on PATH (scripts/env.sh), in the background. */
  startDriver(args: readonly string[], extra: Record<string, string> = {}, timeoutMs = commandTimeoutMs): RunningCommand {
    const argv = ["--stack", this.name, ...args];
    const script = 'source scripts/env.sh && exec npm run --silent pipeline -- "$@"';
    return startCommand(`pipeline ${argv.join(" ")}`, "bash", ["-c", script, "bash", ...argv], { cwd: repoRoot, env: this.env(extra), timeoutMs });
  }

  async driver(args: readonly string[], extra: Record<string, string> = {}): Promise<CommandResult> {
    return this.startDriver(args, extra).done;
  }

  /** This stack's own run record (`.pipeline/last-run/<stack>.json`). */
  get runRecordFile(): string {
    return localPaths(repoRoot, this.name).runRecord;
  }

  lastRun(): LastRun {
    const run = JSON.parse(fs.readFileSync(this.runRecordFile, "utf8")) as LastRun;
    if (run.stack !== this.name) throw new Error(`${this.runRecordFile} records stack ${run.stack}, not ${this.name}`);
    return run;
  }

  /** Removes everything the stack runs (`make mlflow-remove`), then its stack file. */
  async remove(): Promise<CommandResult> {
    const removed = await this.make("mlflow-remove");
    fs.rmSync(this.file, { force: true });
    return removed;
  }
}
