/**
 * The Automation-API pipeline: init -> train -> select -> deploy -> one smoke prediction, each stack phase
 * its own Pulumi stack (`<stack>-tracking`, `<stack>-training`, `<stack>-serving`), outputs flowing
 * between them as the phases table (./phases) says. `--phase <name>` runs one phase on the recorded
 * outputs of earlier ones; `--destroy` removes every stack phase in reverse order.
 */
import * as path from "node:path";
import type { LocalWorkspaceOptions, OutputMap } from "@pulumi/pulumi/automation";
import { localPaths } from "../components/local/paths";
import { MlflowClient } from "../components/registry/mlflowClient";
import { localDataFile } from "../components/shared";
import { publishDataset } from "./datasetUpload";
import { preflight } from "./preflight";
import { loadMetricsFor, loadStackConfig, type MetricsConfig, metricsConfigPath, type StackConfig } from "../config";
import type { PhaseContext, PhaseSecrets } from "../programs/context";
import { championModelUri } from "../programs/serving";
import { type PhaseRecord, writeRunRecord } from "./lastRun";
import { destroyPhase, lastFailedUpdate, type PhaseStackOptions, phaseOutputs, refreshBeforeUpdate, storedOutputs, upPhase } from "./phaseStack";
import { inlineProgram, inputsFrom, need, type Phase, phases, phaseStackName, planPhases, type ProgramInputs, type StackPhase, stackPhases, takeReports } from "./phases";
import type { PipelineArgs } from "./pipelineArgs";
import { withTrackingAccess } from "./portForward";
import { smokePrediction } from "./predict";
import { PhaseProgress } from "./progress";
import { pulumiWorkspace } from "./pulumiEnv";
import { type DriverSecrets, resolveSecrets, secretOutputs, secretsFile } from "./secrets";
import { driverSecretsFrom, planTrackingSecrets, retireLegacySecrets } from "./stackSecrets";
import { runSelectPhase } from "./selectPhase";
import { keepMlflowAccess } from "./mlflowUsers";
import { startTrainPoller, type TrainPoller, trainProgressSource } from "./trainPoller";

/** The repository: toolchain, node_modules, stack files and `.pipeline/`. */
const repoDir = path.resolve(__dirname, "..");

interface Run {
  readonly args: PipelineArgs;
  readonly config: StackConfig;
  readonly metrics: MetricsConfig;
  readonly metricsFile: string;
  readonly ctx: Omit<PhaseContext, "secrets">;
  readonly plainSecrets: DriverSecrets;
  readonly secrets: () => PhaseSecrets;
  readonly workspace: LocalWorkspaceOptions;
  /** Outputs handed from phase to phase (see `handoffs`). */
  readonly handoff: OutputMap;
  readonly inputs: ProgramInputs;
  readonly records: PhaseRecord[];
}

const labelOf = (phase: Phase) => `${phases.indexOf(phase) + 1}/${phases.length} ${phase.name}`;

function stackOptions(run: Run, phase: StackPhase, progress: PhaseProgress, program = inlineProgram(phase, run.ctx, run.secrets, run.inputs)): PhaseStackOptions {
  const stackName = phaseStackName(run.args.stack, phase.stack);
  return { stack: run.args.stack, stackName, program, workspace: run.workspace, progress, logFile: path.join(run.ctx.paths.logDir, `pulumi-${stackName}.log`) };
}

/**
 * The tracking phase owns the generated passwords: before it runs, decide whether they are kept, adopted
 * from an older driver's secrets file, or rotated; after it succeeds, that file is no longer needed.
 */
async function withPasswordPlan(run: Run, phase: StackPhase, progress: PhaseProgress, up: (ctx: Run["ctx"]) => Promise<OutputMap>): Promise<OutputMap> {
  if (phase.stack !== "tracking") return up(run.ctx);
  const legacyFile = secretsFile(run.ctx.paths.stateDir, run.args.stack);
  const previous = (await storedOutputs(stackOptions(run, phase, progress, async () => ({})))) ?? {};
  const generatedSecrets = planTrackingSecrets(previous, legacyFile, run.args.rotateSecrets);
  const outputs = await up({ ...run.ctx, generatedSecrets });
  if (retireLegacySecrets(outputs, legacyFile)) progress.step(`generated passwords now live in the encrypted state: removed ${path.relative(repoDir, legacyFile)}`);
  return outputs;
}

/** Trial counts and an ETA while the train phase's workers run (driver/trainPoller.ts). */
function startTrainProgress(run: Run, phase: StackPhase, progress: PhaseProgress): TrainPoller | undefined {
  if (phase.name !== "train") return undefined;
  const password = driverSecretsFrom(run.handoff, run.plainSecrets).authAdminPassword;
  const write = (line: string) => progress.step(line);
  const source = trainProgressSource(run.config, run.args.stack, run.handoff, password, write);
  return source && startTrainPoller({ ...source, write });
}

async function upStackPhase(run: Run, phase: StackPhase): Promise<void> {
  const progress = new PhaseProgress(labelOf(phase));
  if (phase.stack === "training") {
    // Jobs that ran in a failed update ran once and stay failed in state: a new key reruns them.
    const rerunKey = await lastFailedUpdate(stackOptions(run, phase, progress, async () => ({})));
    if (rerunKey !== undefined) run.handoff.rerunKey = { value: rerunKey, secret: false };
  }
  progress.step(phase.intro(run.ctx, run.inputs, repoDir));
  // Drift on docker and kubernetes (a container or pod removed by hand) is seen before the update.
  const refresh = refreshBeforeUpdate(run.config.platform);
  let changes = 0;
  const poller = startTrainProgress(run, phase, progress);
  const outputs = await withPasswordPlan(run, phase, progress, async (ctx) => {
    const result = await upPhase({ ...stackOptions(run, phase, progress, inlineProgram(phase, ctx, run.secrets, run.inputs)), refresh });
    changes = result.changes;
    return result.outputs;
  }).finally(() => poller?.stop());
  const result = { outputs, changes };
  progress.step(`${phase.outcome(result.outputs)} done, ${result.changes} resource change(s)`);
  run.records.push({ name: phase.name, seconds: progress.seconds(), resourceChanges: result.changes, detail: phase.detail?.(result.outputs, run.inputs) });
  takeReports(run.handoff, phase, result.outputs);
}

const accessOf = (run: Run, phase: Phase) => ({
  config: run.config,
  handoff: run.handoff,
  user: run.plainSecrets,
  log: (line: string) => new PhaseProgress(labelOf(phase)).step(line),
});

/** Docker and kubernetes workers cannot read a file of this machine: it goes to the stack's artifact store first. */
async function publishLocalDataset(run: Run, phase: Phase): Promise<void> {
  const file = run.config.platform === "local" ? undefined : localDataFile(run.config.training.dataset.source, repoDir);
  if (file === undefined) return;
  const adminPassword = driverSecretsFrom(run.handoff, run.plainSecrets).authAdminPassword;
  const client = new MlflowClient({
    trackingUri: need<string>(run.handoff, "driverTrackingUri"),
    ...(adminPassword ? { username: run.config.tracking.auth.adminUser, password: adminPassword } : {}),
  });
  const log = accessOf(run, phase).log;
  const uri = await withTrackingAccess(run.config, run.handoff, () => publishDataset(client, run.config.training.experimentName, file, log));
  run.handoff.datasetSource = { value: uri, secret: false };
}

async function select(run: Run, phase: Phase): Promise<void> {
  // On kubernetes MLflow is reached through `kubectl port-forward` while selection runs.
  const selected = await withTrackingAccess(run.config, run.handoff, () =>
    runSelectPhase({
      label: labelOf(phase),
      config: run.config,
      metrics: run.metrics,
      metricsFile: path.relative(repoDir, run.metricsFile),
      trackingUri: need<string>(run.handoff, "driverTrackingUri"),
      studyId: need<string>(run.handoff, "studyId"),
      authPassword: driverSecretsFrom(run.handoff, run.plainSecrets).authAdminPassword,
      records: run.records,
    }),
  );
  run.handoff.modelVersion = { value: selected.modelVersion, secret: false };
  // Model servers log in as the serving user: it may read the champion's registered model, nothing more.
  await keepMlflowAccess(accessOf(run, phase), { serve: run.metrics.registeredModel.name });
}

async function runPhases(run: Run): Promise<void> {
  for (const { phase, action } of planPhases(run.args.phase)) {
    if (phase.kind === "driver") await select(run, phase);
    else if (action === "read")
      takeReports(run.handoff, phase, await phaseOutputs({ stack: run.args.stack, stackName: phaseStackName(run.args.stack, phase.stack), workspace: run.workspace }));
    else {
      // Trainers log in as the training user: it may write runs in the study's experiment only.
      if (phase.name === "train") {
        await keepMlflowAccess(accessOf(run, phase), { train: run.config.training.experimentName });
        await publishLocalDataset(run, phase);
      }
      await upStackPhase(run, phase);
      // MLflow took its new admin password as it restarted; its service users take theirs now.
      if (phase.name === "init" && run.args.rotateSecrets) await keepMlflowAccess(accessOf(run, phase), { rotated: true });
    }
  }
  if (run.args.phase === "all") {
    const apiKey = run.handoff.servingApiKey?.value;
    await smokePrediction(need<string>(run.handoff, "endpoint"), run.records, typeof apiKey === "string" ? apiKey : undefined, run.config.serving.ingress?.address);
  }
}

async function destroyAll(run: Run): Promise<void> {
  for (const [i, phase] of [...stackPhases].reverse().entries()) {
    const progress = new PhaseProgress(`${i + 1}/${stackPhases.length} destroy ${phase.name}`);
    const opts = stackOptions(run, phase, progress, async () => ({}));
    if ((await storedOutputs(opts)) === undefined) {
      // Destroying would first create the stack: there is nothing to remove.
      progress.step(`stack ${opts.stackName} does not exist: nothing to remove`);
      run.records.push({ name: `destroy-${phase.name}`, seconds: progress.seconds(), resourceChanges: 0 });
      continue;
    }
    progress.step(`removing stack ${opts.stackName}`);
    const changes = await destroyPhase(opts);
    progress.step(`done, ${changes} resource(s) removed`);
    run.records.push({ name: `destroy-${phase.name}`, seconds: progress.seconds(), resourceChanges: changes });
  }
}

/** Runs the pipeline (or one phase of it, or its removal) and writes `.pipeline/last-run/<stack>.json` either way. */
export async function runPipeline(args: PipelineArgs): Promise<void> {
  const config = loadStackConfig(repoDir, args.stack);
  const metricsFile = args.metricsFile ? path.resolve(args.metricsFile) : metricsConfigPath(repoDir, config.training.task);
  // A champion metric the trainer never logs for this scoring would find no run: said before any work.
  const metrics = loadMetricsFor(config.training, repoDir, metricsFile);
  const paths = localPaths(repoDir, args.stack, config.training.requirements);
  // The user's own secrets, resolved once; the generated ones live in the tracking stack (programs/secrets.ts).
  const plainSecrets = resolveSecrets(config);
  const handoff: OutputMap = {};
  const run: Run = {
    args,
    config,
    metrics,
    metricsFile,
    ctx: { stack: args.stack, config, paths },
    plainSecrets,
    secrets: secretOutputs(plainSecrets),
    workspace: await pulumiWorkspace(repoDir),
    handoff,
    inputs: inputsFrom(handoff, championModelUri(metrics.registeredModel.name, metrics.registeredModel.alias)),
    records: [],
  };
  const startedAt = new Date().toISOString();
  const finish = (ok: boolean, error?: string) =>
    writeRunRecord(paths.runRecord, { stack: args.stack, startedAt, finishedAt: new Date().toISOString(), ok, error, phases: run.records });
  try {
    // What only Python can tell (the estimator, its parameters, the data) is checked before any phase
    // changes anything, whenever the run trains; select and deploy alone use what training left.
    if (!args.destroy && (args.phase === "all" || args.phase === "init" || args.phase === "train")) preflight(args.stack, config, paths, repoDir);
    if (args.destroy) await destroyAll(run);
    else await runPhases(run);
    const file = finish(true);
    console.log(
      `pipeline ${args.destroy ? "destroyed" : "finished"}: ${run.records.map((r) => `${r.name} ${r.seconds.toFixed(1)} s/${r.resourceChanges} change(s)`).join(", ")}; record in ${path.relative(repoDir, file)}`,
    );
  } catch (err) {
    finish(false, err instanceof Error ? err.message : String(err));
    throw err;
  }
}
