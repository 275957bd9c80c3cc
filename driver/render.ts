/**
 * `npm run render -- --stack prod [--out <dir>]`: the Kubernetes manifests of every phase, rendered by
 * the real Pulumi engine and kubernetes provider (`renderYamlToDirectory`), then validated offline.
 *
 * The three phase programs run exactly as the pipeline runs them, into `<out>/<phase>/`, on throwaway
 * phase stacks (`<stack>-render-<phase>`) in a temporary file backend, so the user's stacks and state
 * are never touched. Secrets get throwaway values; serving gets a placeholder model version (there is
 * no selection in render). Every manifest is then checked against the Kubernetes OpenAPI schemas
 * (strict fields) and the production-posture rules. Rendered Secrets are plain text: the folder is
 * 0700, and a default (temporary) folder is deleted after validation.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { LocalWorkspaceOptions, OutputMap, PulumiFn } from "@pulumi/pulumi/automation";
import { formatViolation, postureExpectationsFor } from "../components/kubernetes/validation/posture";
import { formatSchemaProblem, schemaSource } from "../components/kubernetes/validation/openApiSchema";
import { type GateReport, validateManifestFolder } from "../components/kubernetes/validation/renderedManifests";
import { localPaths } from "../components/local/paths";
import { buildShardSpecs } from "../components/shared";
import { loadMetricsConfig, loadStackConfig, metricsConfigPath, type StackConfig } from "../config";
import type { PhaseContext, PhaseSecrets } from "../programs/context";
import { championModelUri, servingPhase } from "../programs/serving";
import { trackingPhase } from "../programs/tracking";
import { trainingPhase } from "../programs/training";
import { parseFlags, runMain, stackName, UsageError } from "./cli";
import { secretOutputs } from "./pipeline";
import { requireOutput, upPhase } from "./phaseStack";
import { PhaseProgress } from "./progress";
import { pulumiWorkspace } from "./pulumiEnv";
import type { DriverSecrets } from "./secrets";

/** The repository: toolchain and node_modules. Stack files come from here unless --project-dir says otherwise. */
const repoDir = path.resolve(__dirname, "..");

export const renderPhases = ["tracking", "training", "serving"] as const;
export type RenderPhase = (typeof renderPhases)[number];

/** Serving needs a model version; render has no selection, so this stands in for the champion's. */
export const placeholderModelVersion = "0";

export const renderStackName = (stack: string, phase: RenderPhase) => `${stack}-render-${phase}`;

/** Refuses stacks that do not run on Kubernetes, naming the file and key. */
export function requireKubernetes(config: StackConfig, stack: string, command: string): void {
  if (config.platform !== "kubernetes") {
    throw new UsageError(`Pulumi.${stack}.yaml: mlops:platform is '${config.platform}': ${command} needs a kubernetes stack (e.g. --stack prod)`);
  }
}

/**
 * Secrets for render mode only (nothing real ever runs with them). Derived from `seed` so the same seed
 * gives the same values: repeated previews then show no Secret changes.
 */
export function renderSecrets(config: StackConfig, seed: string, env: NodeJS.ProcessEnv = process.env): DriverSecrets {
  const derive = (name: string) => crypto.createHmac("sha256", seed).update(name).digest("base64url");
  const { database, objectStore, auth } = config.tracking;
  const storeKeys = objectStore.kind === "inStack" || (objectStore.kind === "s3" && Boolean(env.MLOPS_S3_ACCESS_KEY_ID));
  return {
    databasePassword: database.kind === "sqlite" ? undefined : derive("databasePassword"),
    objectStoreCredentials: storeKeys ? { accessKeyId: derive("objectStoreAccessKeyId").slice(0, 20), secretAccessKey: derive("objectStoreSecretKey") } : undefined,
    authAdminPassword: auth.enabled ? derive("authAdminPassword") : undefined,
  };
}

/** Workspace options on a file backend of our choosing; the user's backend and passphrase are left alone. */
export async function workspaceOn(backendDir: string, passphrase: string, workDir: string): Promise<LocalWorkspaceOptions> {
  fs.mkdirSync(backendDir, { recursive: true, mode: 0o700 });
  const { PULUMI_CONFIG_PASSPHRASE_FILE: _userFile, PULUMI_BACKEND_URL: _userBackend, ...inherited } = process.env;
  const env = { ...inherited, PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_CONFIG_PASSPHRASE: passphrase };
  const { pulumiCommand, envVars } = await pulumiWorkspace(repoDir, env);
  // LocalWorkspace starts from process.env: an inherited passphrase file must not override ours.
  return { pulumiCommand, envVars: { ...envVars, PULUMI_CONFIG_PASSPHRASE_FILE: "" }, workDir };
}

/** What each phase program needs besides the config: tracking URIs and the model to serve. */
export interface RenderInputs {
  readonly jobTrackingUri: string;
  readonly modelUri: string;
  readonly modelVersion: string;
}

/** The inline program of one phase, with the kubernetes provider rendering into `renderDir`. */
export function phaseProgram(phase: RenderPhase, ctx: Omit<PhaseContext, "secrets">, secrets: () => PhaseSecrets, inputs: () => RenderInputs): PulumiFn {
  return async () => {
    const full: PhaseContext = { ...ctx, secrets: secrets() };
    switch (phase) {
      case "tracking":
        return trackingPhase(full);
      case "training":
        return trainingPhase(full, inputs().jobTrackingUri);
      case "serving":
        return servingPhase(full, inputs());
    }
  };
}

/** A 0700 folder: `--out` as given (created if missing), else a fresh temporary one. */
export function prepareOutDir(out: string | undefined): { dir: string; temporary: boolean } {
  if (out === undefined) return { dir: fs.mkdtempSync(path.join(os.tmpdir(), "mlops-render-")), temporary: true };
  const dir = path.resolve(out);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${out}: expected a folder, found a file`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  return { dir, temporary: false };
}

export interface RenderRun {
  readonly stack: string;
  readonly config: StackConfig;
  readonly outDir: string;
  /** `<outDir>/<phase>` for each phase. */
  readonly phaseDirs: Readonly<Record<RenderPhase, string>>;
  /** How many training shards (workers) the training phase rendered. */
  readonly workers: number;
  readonly seconds: number;
}

export interface RenderOptions {
  readonly stack: string;
  readonly outDir: string;
  /** Where `Pulumi.<stack>.yaml` and config/metrics_config.yaml live; default the repository. */
  readonly projectDir?: string;
  readonly log?: (line: string) => void;
}

/**
 * Renders the three phases of `stack` into `outDir/<phase>` through the real engine, on phase stacks in
 * a temporary backend that is deleted afterwards. Earlier `<outDir>/<phase>` folders are replaced.
 */
export async function renderStack(opts: RenderOptions): Promise<RenderRun> {
  const { stack, outDir, projectDir = repoDir, log = console.log } = opts;
  const started = Date.now();
  const config = loadStackConfig(projectDir, stack);
  requireKubernetes(config, stack, "render");
  const metrics = loadMetricsConfig(metricsConfigPath(projectDir));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-render-state-"));
  const seed = crypto.randomBytes(32).toString("base64url");
  const paths = localPaths(projectDir, stack);
  try {
    const workspace = await workspaceOn(path.join(scratch, "backend"), seed, scratch);
    const secrets = secretOutputs(renderSecrets(config, seed));
    const phaseDirs = Object.fromEntries(renderPhases.map((phase) => [phase, path.join(outDir, phase)])) as Record<RenderPhase, string>;
    let tracking: OutputMap = {};
    const inputs = (): RenderInputs => ({
      jobTrackingUri: requireOutput<string>(tracking, "jobTrackingUri", "tracking"),
      modelUri: championModelUri(metrics.registeredModel.name, metrics.registeredModel.alias),
      modelVersion: placeholderModelVersion,
    });
    for (const [i, phase] of renderPhases.entries()) {
      fs.rmSync(phaseDirs[phase], { recursive: true, force: true });
      const progress = new PhaseProgress(`render ${i + 1}/3 ${phase}`, log);
      progress.step(`rendering into ${phaseDirs[phase]} (stack ${renderStackName(stack, phase)}, temporary backend)`);
      const result = await upPhase({
        stackName: renderStackName(stack, phase),
        program: phaseProgram(phase, { stack, config, paths, renderDir: phaseDirs[phase] }, secrets, inputs),
        workspace,
        progress,
        logFile: path.join(paths.logDir, `pulumi-${renderStackName(stack, phase)}.log`),
      });
      if (phase === "tracking") tracking = result.outputs;
      progress.step(`done: ${result.changes} manifest(s)`);
    }
    return { stack, config, outDir, phaseDirs, workers: buildShardSpecs(stack, config.training).length, seconds: (Date.now() - started) / 1000 };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** Schema and posture checks over everything one render wrote. */
export function validateRender(run: RenderRun): GateReport {
  return validateManifestFolder(run.outDir, postureExpectationsFor(run.config, run.workers), Object.values(run.phaseDirs));
}

/** One line per manifest (`file  Kind/name: ok`), every problem under it, then the totals. */
export function printGateReport(report: GateReport, log: (line: string) => void): void {
  log(`[render] validating ${report.manifests.length} manifest(s): schemas of ${schemaSource}, unknown fields rejected; posture rules`);
  for (const m of report.manifests) {
    const problems = [...m.schemaProblems.map((p) => `schema: ${formatSchemaProblem(p)}`), ...m.violations.map((v) => `posture: ${v.rule}: ${v.detail}`)];
    log(`  ${m.file}  ${m.kind}/${m.name}: ${problems.length === 0 ? "ok" : `${problems.length} problem(s)`}`);
    for (const problem of problems) log(`      ${problem}`);
  }
  for (const u of report.unreadable) log(`  ${u.file}: ${u.problem}`);
  for (const v of report.unattributed) log(`  posture: ${formatViolation(v)}`);
  const schemaCount = report.manifests.reduce((n, m) => n + m.schemaProblems.length, 0);
  const postureCount = report.unattributed.length + report.manifests.reduce((n, m) => n + m.violations.length, 0);
  const bad = report.manifests.filter((m) => m.schemaProblems.length + m.violations.length > 0).length;
  log(
    `[render] ${report.ok ? "PASS" : "FAIL"}: ${report.manifests.length} manifest(s), ${report.manifests.length - bad} ok; ${schemaCount} schema problem(s), ${postureCount} posture violation(s)${report.unreadable.length ? `, ${report.unreadable.length} unreadable file(s)` : ""}`,
  );
}

const usage = "usage: npm run render -- [--stack <name>] [--out <dir>] [--project-dir <dir>]   (default out: a temporary folder, deleted afterwards)";

export async function main(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(argv, { stack: { type: "string" }, out: { type: "string" }, "project-dir": { type: "string" } }, usage);
  const stack = stackName(flags.stack);
  const projectDir = path.resolve(flags["project-dir"] ?? repoDir);
  const { dir, temporary } = prepareOutDir(flags.out);
  if (!temporary && !path.relative(repoDir, dir).startsWith(".."))
    log(`[render] warning: ${dir} is inside the repository: rendered Secrets are plain text there, do not commit them`);
  try {
    log(`[render] stack ${stack}: manifests into ${dir} (mode 0700${temporary ? ", temporary" : ""})`);
    const run = await renderStack({ stack, outDir: dir, projectDir, log });
    const report = validateRender(run);
    printGateReport(report, log);
    log(`[render] rendered and validated in ${run.seconds.toFixed(1)} s`);
    return report.ok ? 0 : 1;
  } finally {
    if (temporary) {
      fs.rmSync(dir, { recursive: true, force: true });
      log(`[render] removed ${dir} (rendered Secrets are plain text; pass --out <dir> to keep the manifests)`);
    } else {
      log(`[render] manifests kept in ${dir} (mode 0700; its Secrets are plain text)`);
    }
  }
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
