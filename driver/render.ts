/**
 * `npm run render`: the Kubernetes manifests of every phase, rendered by the real Pulumi engine and
 * kubernetes provider (`renderYamlToDirectory`), then validated offline.
 *
 * The phase programs run exactly as the pipeline runs them (the phases table), into `<out>/<stack suffix>/`,
 * on throwaway phase stacks (`<stack>-render-<suffix>`) in a temporary file backend, so the user's stacks
 * and state are never touched. Secrets get throwaway values; serving gets a placeholder model version
 * (there is no selection in render). Every manifest is then checked against the Kubernetes OpenAPI schemas
 * (strict fields) and the production-posture rules. Rendered Secrets are plain text: the folder is 0700, and
 * a default (temporary) folder is deleted after validation.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { LocalWorkspaceOptions, OutputMap } from "@pulumi/pulumi/automation";
import { formatViolation, postureExpectationsFor } from "../components/kubernetes/validation/posture";
import { formatSchemaProblem, schemaSource } from "../components/kubernetes/validation/openApiSchema";
import { type GateReport, validateManifestFolder } from "../components/kubernetes/validation/renderedManifests";
import { localPaths } from "../components/local/paths";
import { buildShardSpecs } from "../components/shared";
import { loadMetricsFor, loadStackConfig, type StackConfig } from "../config";
import { championModelUri } from "../programs/serving";
import { UsageError } from "./cli";
import { upPhase } from "./phaseStack";
import { inlineProgram, inputsFrom, renderStackName, type StackSuffix, stackPhases, takeReports } from "./phases";
import { PhaseProgress } from "./progress";
import { pulumiWorkspace } from "./pulumiEnv";
import { placeholderModelVersion, renderSecrets, requireKubernetes } from "./renderMode";
import { secretOutputs } from "./secrets";

/** The repository: toolchain and node_modules. Stack files come from here unless --project-dir says otherwise. */
const repoDir = path.resolve(__dirname, "..");

/** Workspace options on a file backend of our choosing; the user's backend and passphrase are left alone. */
export async function workspaceOn(backendDir: string, passphrase: string, workDir: string): Promise<LocalWorkspaceOptions> {
  fs.mkdirSync(backendDir, { recursive: true, mode: 0o700 });
  const { PULUMI_CONFIG_PASSPHRASE_FILE: _userFile, PULUMI_BACKEND_URL: _userBackend, ...inherited } = process.env;
  const env = { ...inherited, PULUMI_BACKEND_URL: `file://${backendDir}`, PULUMI_CONFIG_PASSPHRASE: passphrase };
  const { pulumiCommand, envVars } = await pulumiWorkspace(repoDir, env);
  // LocalWorkspace starts from process.env: an inherited passphrase file must not override ours.
  return { pulumiCommand, envVars: { ...envVars, PULUMI_CONFIG_PASSPHRASE_FILE: "" }, workDir };
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
  readonly phaseDirs: Readonly<Record<StackSuffix, string>>;
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
  const metrics = loadMetricsFor(config.training, projectDir);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-render-state-"));
  const seed = crypto.randomBytes(32).toString("base64url");
  const paths = localPaths(projectDir, stack, config.training.requirements);
  try {
    const workspace = await workspaceOn(path.join(scratch, "backend"), seed, scratch);
    const secrets = secretOutputs(renderSecrets(config, seed));
    const phaseDirs = Object.fromEntries(stackPhases.map((phase) => [phase.stack, path.join(outDir, phase.stack)])) as Record<StackSuffix, string>;
    const handoff: OutputMap = {};
    const inputs = inputsFrom(handoff, championModelUri(metrics.registeredModel.name, metrics.registeredModel.alias), { modelVersion: placeholderModelVersion });
    for (const [i, phase] of stackPhases.entries()) {
      const stackName = renderStackName(stack, phase.stack);
      fs.rmSync(phaseDirs[phase.stack], { recursive: true, force: true });
      const progress = new PhaseProgress(`render ${i + 1}/${stackPhases.length} ${phase.stack}`, log);
      progress.step(`rendering into ${phaseDirs[phase.stack]} (stack ${stackName}, temporary backend)`);
      const result = await upPhase({
        stack,
        stackName,
        program: inlineProgram(phase, { stack, config, paths, renderDir: phaseDirs[phase.stack] }, secrets, inputs),
        workspace,
        progress,
        logFile: path.join(paths.logDir, `pulumi-${stackName}.log`),
      });
      takeReports(handoff, phase, result.outputs);
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

export interface RenderCommand {
  readonly stack: string;
  /** Keep the manifests here; default a temporary folder, deleted afterwards. */
  readonly out?: string;
  readonly projectDir?: string;
}

/** Renders, validates and prints the gate report; 0 when every manifest passed. */
export async function renderCommand(cmd: RenderCommand, log: (line: string) => void = console.log): Promise<number> {
  const { dir, temporary } = prepareOutDir(cmd.out);
  if (!temporary && !path.relative(repoDir, dir).startsWith(".."))
    log(`[render] warning: ${dir} is inside the repository: rendered Secrets are plain text there, do not commit them`);
  try {
    log(`[render] stack ${cmd.stack}: manifests into ${dir} (mode 0700${temporary ? ", temporary" : ""})`);
    const run = await renderStack({ stack: cmd.stack, outDir: dir, projectDir: cmd.projectDir === undefined ? undefined : path.resolve(cmd.projectDir), log });
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
