// Pure pieces of the language host: how a RunRequest becomes a `node` command line and environment,
// and how the program's exit becomes a RunResponse. Kept free of gRPC so unit tests can call them.
// The behaviour mirrors the Go host shipped with the Pulumi CLI (sdk/nodejs/cmd/pulumi-language-nodejs),
// which cannot be built here because its module is not served by the Go proxy.

/** Exit code the Node SDK uses after it has already shown the user an actionable message. */
export const EXIT_AFTER_USER_ACTIONABLE_MESSAGE = 32;

/** The `runtime.options` of Pulumi.yaml that matter to a nodejs program. */
export interface RuntimeOptions {
  readonly typescript: boolean;
  readonly tsconfigPath: string;
  readonly nodeArgs: readonly string[];
}

/** Validates `runtime.options` the way the Go host does; throws a one-line message naming the option. */
export function parseRuntimeOptions(options: Readonly<Record<string, unknown>>): RuntimeOptions {
  const typescript = options.typescript ?? true;
  if (typeof typescript !== "boolean") {
    throw new Error(`Pulumi.yaml runtime.options.typescript must be a boolean, got ${JSON.stringify(typescript)}`);
  }
  const tsconfigPath = options.tsconfig ?? "";
  if (typeof tsconfigPath !== "string") {
    throw new Error(`Pulumi.yaml runtime.options.tsconfig must be a string, got ${JSON.stringify(tsconfigPath)}`);
  }
  const nodeArgs = options.nodeargs ?? "";
  if (typeof nodeArgs !== "string") {
    throw new Error(`Pulumi.yaml runtime.options.nodeargs must be a string, got ${JSON.stringify(nodeArgs)}`);
  }
  return { typescript, tsconfigPath, nodeArgs: splitShellWords(nodeArgs) };
}

/** Splits a command line into words like a POSIX shell would (quotes and backslashes, no expansion). */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let current = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = null;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) current += line[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote !== null) throw new Error(`unterminated ${quote} quote in nodeargs: ${line}`);
  if (inWord) words.push(current);
  return words;
}

/**
 * Rewrites `<namespace>:<name>` keys to the legacy `<namespace>:config:<name>` form that every
 * @pulumi/pulumi version understands (what the Go host hands the program in PULUMI_CONFIG).
 */
export function legacyConfigJson(config: ReadonlyMap<string, string>): string {
  const legacy: Record<string, string> = {};
  for (const [key, value] of config) {
    const parts = key.split(":");
    if (parts.length === 2 && parts[0] && parts[1]) {
      legacy[`${parts[0]}:config:${parts[1]}`] = value;
    } else if (parts.length === 3 && parts[1] === "config" && parts[0] && parts[2]) {
      legacy[key] = value;
    } else {
      throw new Error(`could not parse ${key} as a configuration key (expected <namespace>:<name>)`);
    }
  }
  return JSON.stringify(legacy);
}

/** What the engine asked to run, already decoded from protobuf. */
export interface RunInputs {
  readonly runScript: string;
  readonly monitorAddress: string;
  readonly engineAddress: string;
  readonly organization: string;
  readonly project: string;
  readonly stack: string;
  readonly rootDirectory: string;
  readonly programDirectory: string;
  readonly entryPoint: string;
  readonly dryRun: boolean;
  readonly parallel: number;
  readonly tracing: string;
  readonly programArgs: readonly string[];
  readonly config: ReadonlyMap<string, string>;
  readonly configSecretKeys: readonly string[];
  readonly options: RuntimeOptions;
}

export interface NodeCommand {
  readonly args: string[];
  readonly env: Record<string, string>;
}

/** The `node` arguments and the extra environment the SDK's `cmd/run` expects. */
export function buildNodeCommand(run: RunInputs): NodeCommand {
  const flags: string[] = [];
  const flag = (name: string, value: string): void => {
    if (value !== "") flags.push(`--${name}`, value);
  };
  flag("monitor", run.monitorAddress);
  flag("engine", run.engineAddress);
  flag("organization", run.organization);
  flag("project", run.project);
  flag("root-directory", run.rootDirectory);
  flag("stack", run.stack);
  flag("pwd", run.programDirectory);
  if (run.dryRun) flags.push("--dry-run");
  flag("parallel", String(run.parallel));
  flag("tracing", run.tracing);

  const env: Record<string, string> = {
    PULUMI_CONFIG: legacyConfigJson(run.config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(run.configSecretKeys),
  };
  if (run.options.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
  if (run.options.tsconfigPath !== "") env.PULUMI_NODEJS_TSCONFIG_PATH = run.options.tsconfigPath;

  const entryPoint = run.entryPoint === "" ? "." : run.entryPoint;
  return {
    args: [...run.options.nodeArgs, run.runScript, ...flags, entryPoint, ...run.programArgs],
    env,
  };
}

/** The RunResponse fields for how the program process ended. */
export interface RunOutcome {
  readonly error: string;
  readonly bail: boolean;
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): RunOutcome {
  if (code === 0) return { error: "", bail: false };
  if (code === EXIT_AFTER_USER_ACTIONABLE_MESSAGE) return { error: "", bail: true };
  if (code !== null) return { error: `Program exited with non-zero exit code: ${code}`, bail: false };
  return { error: `Program exited unexpectedly: killed by signal ${signal ?? "unknown"}`, bail: false };
}

/** The engine address is the one positional argument; flags (Go `flag` style) come before it. */
export function engineAddressFromArgs(argv: readonly string[]): { engineAddress: string; tracing: string } {
  const flagsWithValue = new Set(["tracing", "root"]);
  let engineAddress = "";
  let tracing = "";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-")) {
      engineAddress = arg;
      break;
    }
    const [name, inlineValue] = arg.replace(/^--?/, "").split(/=(.*)/s, 2);
    const value = inlineValue ?? (flagsWithValue.has(name) ? (argv[++i] ?? "") : "");
    if (name === "tracing") tracing = value;
  }
  return { engineAddress, tracing };
}
