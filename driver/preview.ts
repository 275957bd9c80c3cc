/**
 * `npm run preview -- --stack <name> [--render [--update]] [--json <file>] [--project-dir <dir>]`: the diff
 * of every phase stack (tracking, training, serving) with a summary per phase and a total. Changes nothing
 * (except with --update); exits non-zero when a preview fails.
 *
 * Render mode (`--render`, kubernetes stacks): the kubernetes provider renders YAML instead of talking to
 * a cluster, so pull-request CI can preview with no cluster. It diffs against the render-mode phase stacks
 * `<stack>-render-<phase>` in the configured backend; `--update` records the current code as that baseline
 * (an `up` that writes manifests to a temporary folder only). Render mode is never chosen automatically: a
 * cluster that happens not to answer must not silently switch the preview to a different baseline.
 *
 * Training and serving are previewed with the tracking URI and model version their stacks recorded last
 * (a real deploy may move the champion: selection is not previewed).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent, LocalWorkspaceOptions, OutputMap } from "@pulumi/pulumi/automation";
import { localPaths } from "../components/local/paths";
import { loadMetricsFor, loadStackConfig, type StackConfig } from "../config";
import { championModelUri } from "../programs/serving";
import { UsageError } from "./cli";
import { type PhaseStackOptions, previewPhase, storedOutputs, upPhase } from "./phaseStack";
import { inlineProgram, inputsFrom, phaseStackName, renderStackName, type StackSuffix, stackPhases, takeReports } from "./phases";
import { PhaseProgress } from "./progress";
import { pulumiWorkspace } from "./pulumiEnv";
import { placeholderModelVersion, renderSecrets, requireKubernetes } from "./renderMode";
import { resolveSecrets, secretOutputs, secretsFile } from "./secrets";
import { planTrackingSecrets } from "./stackSecrets";

const repoDir = path.resolve(__dirname, "..");

/** Stands in for the tracking URI before the tracking phase ever ran (the preview says so). */
export const placeholderTrackingUri = "http://tracking-not-deployed.invalid:5000";
/** Stands in for the in-stack PostgreSQL's Service (kubernetes) while the tracking stack has no outputs. */
export const placeholderDatabaseAddress = { host: "postgres-not-deployed.invalid", port: 5432 } as const;

export interface PreviewChange {
  /** Property path as the provider reports it (`spec.replicas`, `metadata.labels["app"]`). */
  readonly path: string;
  readonly old: unknown;
  readonly new: unknown;
}

export interface PreviewStep {
  readonly op: string;
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** Every changed property path with its old and new input (Secret values are never included). */
  readonly changes: readonly PreviewChange[];
}

export interface PhasePreview {
  readonly phase: StackSuffix;
  readonly stackName: string;
  readonly summary: Readonly<Record<string, number>>;
  /** Every step that is not `same`. */
  readonly steps: readonly PreviewStep[];
  readonly diff: string;
}

export interface PreviewReport {
  readonly stack: string;
  readonly mode: "render" | "platform";
  readonly phases: readonly PhasePreview[];
  readonly total: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

/** Splits `a.b[0]["c.d"]` into keys. */
export function propertyPathKeys(propertyPath: string): (string | number)[] {
  const keys: (string | number)[] = [];
  for (const m of propertyPath.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)) {
    if (m[1] !== undefined) keys.push(m[1].replace(/\\(.)/g, "$1"));
    else if (m[2] !== undefined) keys.push(Number(m[2]));
    else if (m[3] !== undefined) keys.push(m[3]);
  }
  return keys;
}

export function valueAt(root: unknown, propertyPath: string): unknown {
  return propertyPathKeys(propertyPath).reduce<unknown>(
    (node, key) => (typeof node === "object" && node !== null ? (node as Record<string | number, unknown>)[key] : undefined),
    root,
  );
}

const secretTypes = new Set(["kubernetes:core/v1:Secret"]);

/** The step of a `resourcePreEvent`, or undefined for `same` steps and the stack itself. */
export function stepOf(event: EngineEvent): PreviewStep | undefined {
  const meta = event.resourcePreEvent?.metadata;
  if (!meta || meta.op === "same" || meta.type === "pulumi:pulumi:Stack") return undefined;
  const redact = secretTypes.has(meta.type);
  const changes = Object.keys(meta.detailedDiff ?? {}).map((p) => ({
    path: p,
    old: redact ? "[redacted]" : valueAt(meta.old?.inputs, p),
    new: redact ? "[redacted]" : valueAt(meta.new?.inputs, p),
  }));
  return { op: meta.op, type: meta.type, name: meta.urn.split("::").pop() ?? meta.urn, urn: meta.urn, changes };
}

const summaryOrder = ["create", "update", "replace", "delete"] as const;

/** `0 to create, 1 to update, 0 to replace, 0 to delete, 14 unchanged` (+ any other operation kinds). */
export function formatSummary(summary: Readonly<Record<string, number>>): string {
  const known = new Set<string>([...summaryOrder, "same"]);
  const others = Object.entries(summary).filter(([op, n]) => !known.has(op) && n > 0);
  return [...summaryOrder.map((op) => `${summary[op] ?? 0} to ${op}`), `${summary.same ?? 0} unchanged`, ...others.map(([op, n]) => `${n} ${op}`)].join(", ");
}

export function addSummaries(summaries: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const s of summaries) for (const [op, n] of Object.entries(s)) total[op] = (total[op] ?? 0) + n;
  return total;
}

/** The seed of render-mode secrets: the state passphrase, so previews of one backend agree with each other. */
function passphraseOf(envVars: Readonly<Record<string, string>>): string {
  if (envVars.PULUMI_CONFIG_PASSPHRASE) return envVars.PULUMI_CONFIG_PASSPHRASE;
  if (envVars.PULUMI_CONFIG_PASSPHRASE_FILE) return fs.readFileSync(envVars.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim();
  throw new Error("no state passphrase (PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE): source scripts/env.sh");
}

export interface PreviewOptions {
  readonly stack: string;
  readonly render: boolean;
  /** Render mode only: record the previewed code as the baseline (`up` into a temporary folder). */
  readonly update: boolean;
  readonly projectDir?: string;
  readonly log?: (line: string) => void;
}

interface PreviewSetup {
  readonly config: StackConfig;
  readonly workspace: LocalWorkspaceOptions;
  readonly stackNameOf: (phase: StackSuffix) => string;
  readonly secrets: ReturnType<typeof secretOutputs>;
  /** Render mode: a relative path, so the provider config (and with it every resource) stays the same between runs. */
  readonly renderDirOf: (phase: StackSuffix) => string | undefined;
}

async function setup(opts: PreviewOptions, projectDir: string, workDir: string): Promise<PreviewSetup> {
  const config = loadStackConfig(projectDir, opts.stack);
  if (opts.update && !opts.render) throw new UsageError("--update records the render-mode baseline: use it with --render (a real deploy is `make pipeline`)");
  if (opts.render) requireKubernetes(config, opts.stack, "preview --render");
  const { pulumiCommand, envVars } = await pulumiWorkspace(repoDir);
  if (!opts.render) {
    return {
      config,
      workspace: { pulumiCommand, envVars },
      stackNameOf: (phase) => phaseStackName(opts.stack, phase),
      secrets: secretOutputs(resolveSecrets(config)),
      renderDirOf: () => undefined,
    };
  }
  return {
    config,
    // The provider writes relative render folders under workDir, a temporary folder deleted afterwards.
    workspace: { pulumiCommand, envVars, workDir },
    stackNameOf: (phase) => renderStackName(opts.stack, phase),
    secrets: secretOutputs(renderSecrets(config, `${passphraseOf(envVars)}\u0000${opts.stack}`)),
    renderDirOf: (phase) => path.join("rendered", phase),
  };
}

/** Previews (and with --update applies, render mode only) the three phase stacks in order. */
export async function previewStack(opts: PreviewOptions): Promise<PreviewReport> {
  const projectDir = path.resolve(opts.projectDir ?? repoDir);
  const log = opts.log ?? console.log;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-preview-"));
  try {
    const s = await setup(opts, projectDir, workDir);
    const metrics = loadMetricsFor(s.config.training, projectDir);
    const paths = localPaths(projectDir, opts.stack, s.config.training.requirements);
    const notes: string[] = [];
    const phases: PhasePreview[] = [];
    const handoff: OutputMap = {};
    const inputs = inputsFrom(handoff, championModelUri(metrics.registeredModel.name, metrics.registeredModel.alias), {
      jobTrackingUri: placeholderTrackingUri,
      jobDatabaseAddress: placeholderDatabaseAddress,
      modelVersion: placeholderModelVersion,
    });
    for (const [i, phase] of stackPhases.entries()) {
      const progress = new PhaseProgress(`preview ${i + 1}/${stackPhases.length} ${phase.stack}`, log);
      const stackName = s.stackNameOf(phase.stack);
      let stackOpts: PhaseStackOptions = {
        stack: opts.stack,
        stackName,
        program: inlineProgram(phase, { stack: opts.stack, config: s.config, paths, renderDir: s.renderDirOf(phase.stack) }, s.secrets, inputs),
        workspace: s.workspace,
        progress,
        logFile: path.join(paths.logDir, `pulumi-${stackName}-preview.log`),
      };
      const stored = await storedOutputs(stackOpts);
      takeReports(handoff, phase, stored ?? {});
      // What the next init would do with the stack's passwords (kept, adopted), so the preview shows no change for them.
      if (phase.stack === "tracking" && !opts.render) {
        const generatedSecrets = planTrackingSecrets(stored ?? {}, secretsFile(paths.stateDir, opts.stack), false);
        stackOpts = { ...stackOpts, program: inlineProgram(phase, { stack: opts.stack, config: s.config, paths, renderDir: undefined, generatedSecrets }, s.secrets, inputs) };
      }
      // Serving is previewed with the model version its stack deployed last (selection is not previewed).
      if (phase.stack === "serving" && stored?.modelVersion !== undefined) handoff.modelVersion = stored.modelVersion;
      if (phase.stack === "training" && handoff.jobTrackingUri === undefined)
        notes.push(`${s.stackNameOf("tracking")} has no outputs yet: training and serving are previewed with tracking URI ${placeholderTrackingUri}`);
      if (phase.stack === "serving" && handoff.modelVersion === undefined)
        notes.push(`${stackName} has no model version yet: serving is previewed with version ${placeholderModelVersion}`);
      progress.step(`previewing stack ${stackOpts.stackName}${opts.render ? " (render mode: no cluster)" : ""}`);
      const steps: PreviewStep[] = [];
      const result = await previewPhase(
        stackOpts,
        (event) => {
          const step = stepOf(event);
          if (step) steps.push(step);
        },
        stored === undefined && !opts.update,
      );
      phases.push({ phase: phase.stack, stackName, summary: result.summary, steps, diff: result.diff });
      log(`=== ${phase.stack}: diff of stack ${stackName}`);
      log(result.diff.trimEnd());
      if (opts.update) {
        const applied = await upPhase(stackOpts);
        takeReports(handoff, phase, applied.outputs);
        progress.step(`baseline recorded: ${applied.changes} change(s) applied in render mode`);
      }
    }
    return { stack: opts.stack, mode: opts.render ? "render" : "platform", phases, total: addSummaries(phases.map((p) => p.summary)), notes };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export function printSummary(report: PreviewReport, log: (line: string) => void): void {
  for (const note of report.notes) log(`[preview] note: ${note}`);
  for (const p of report.phases) log(`[preview] ${p.phase}: ${formatSummary(p.summary)}`);
  log(`[preview] total: ${formatSummary(report.total)}`);
}

/** How to say that no cluster answered, and what to run instead. */
export function withoutClusterHint(err: unknown, stack: string): unknown {
  if (err instanceof Error && /unreachable|connection refused|no configuration has been provided|kubeconfig/i.test(err.message)) {
    return new Error(`${err.message}\n  (no cluster here? \`npm run preview -- --stack ${stack} --render\` previews the manifests without one)`);
  }
  return err;
}

/** Previews, prints the summary and writes the JSON report if asked; throws when a preview fails. */
export async function previewCommand(opts: PreviewOptions & { readonly json?: string }): Promise<number> {
  const log = opts.log ?? console.log;
  const report = await previewStack(opts).catch((err: unknown) => {
    throw opts.render ? err : withoutClusterHint(err, opts.stack);
  });
  printSummary(report, log);
  if (opts.json) fs.writeFileSync(path.resolve(opts.json), `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}
