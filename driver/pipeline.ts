/**
 * The Automation-API driver: `npm run pipeline -- --stack <name> [--phase init|train|select|deploy] [--destroy]`.
 * Runs init -> train -> select -> deploy -> one smoke prediction, each phase its own Pulumi stack
 * (`<stack>-tracking`, `<stack>-training`, `<stack>-serving`), outputs flowing between them.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { LocalWorkspaceOptions, OutputMap, PulumiFn } from "@pulumi/pulumi/automation";
import { assertMetricsMatchTraining, loadMetricsConfig, loadStackConfig, type MetricsConfig, metricsConfigPath, type StackConfig } from "../config";
import { localPaths } from "../components/local/paths";
import { type PhaseContext, type PhaseSecrets, phaseStackName } from "../programs/context";
import { championModelUri, servingPhase } from "../programs/serving";
import { trackingPhase } from "../programs/tracking";
import { trainingPhase } from "../programs/training";
import { runMain } from "./cli";
import { parsePipelineArgs, type PipelineArgs, type phases } from "./pipelineArgs";
import { type PhaseRecord, writeRunRecord } from "./lastRun";
import { destroyPhase, lastFailedUpdate, phaseOutputs, requireOutput, upPhase } from "./phaseStack";
import { withTrackingAccess } from "./portForward";
import { PhaseProgress } from "./progress";
import { pulumiWorkspace } from "./pulumiEnv";
import { type DriverSecrets, resolveSecrets } from "./secrets";
import { runSelectPhase } from "./selectPhase";
import { smokePrediction } from "./predict";

const projectDir = path.resolve(__dirname, "..");

interface Pipeline {
  readonly args: PipelineArgs;
  readonly config: StackConfig;
  readonly metrics: MetricsConfig;
  readonly ctx: PhaseContext;
  readonly workspace: LocalWorkspaceOptions;
  readonly records: PhaseRecord[];
}

/** Plain secrets as Pulumi secrets; call it inside each program run: Outputs belong to the Pulumi runtime of that run. */
export function secretOutputs(plain: DriverSecrets): () => PhaseSecrets {
  return () => ({
    databasePassword: plain.databasePassword === undefined ? undefined : pulumi.secret(plain.databasePassword),
    objectStoreCredentials: plain.objectStoreCredentials === undefined ? undefined : pulumi.secret(plain.objectStoreCredentials),
    authAdminPassword: plain.authAdminPassword === undefined ? undefined : pulumi.secret(plain.authAdminPassword),
  });
}

export function phaseSecrets(config: StackConfig, stack: string, stateDir: string): () => PhaseSecrets {
  return secretOutputs(resolveSecrets(config, stack, stateDir));
}

function stackOptions(p: Pipeline, phase: "tracking" | "training" | "serving", label: string, program: PulumiFn) {
  const progress = new PhaseProgress(label);
  return {
    progress,
    opts: {
      stackName: phaseStackName(p.args.stack, phase),
      program,
      workspace: p.workspace,
      progress,
      logFile: path.join(p.ctx.paths.logDir, `pulumi-${p.args.stack}-${phase}.log`),
    },
  };
}

/** Each program builds its context inside the Pulumi run, so secrets are Outputs of that run. */
function programFor(p: Pipeline, secrets: () => PhaseSecrets, body: (ctx: PhaseContext) => Promise<Record<string, unknown>>): PulumiFn {
  return async () => body({ ...p.ctx, secrets: secrets() });
}

async function runInit(p: Pipeline, secrets: () => PhaseSecrets): Promise<OutputMap> {
  const { progress, opts } = stackOptions(p, "tracking", "1/4 init", programFor(p, secrets, async (ctx) => trackingPhase(ctx)));
  const db = p.config.tracking.database.kind;
  const store = p.config.tracking.objectStore.kind;
  progress.step(`MLflow ${p.config.tracking.mlflowVersion} on ${p.config.platform} (database: ${db}, artifacts: ${store}, auth: ${p.config.tracking.auth.enabled ? "on" : "off"})`);
  const result = await upPhase(opts);
  progress.step(`tracking at ${requireOutput<string>(result.outputs, "driverTrackingUri", "init")}: done, ${result.changes} resource change(s)`);
  p.records.push({ name: "init", seconds: progress.seconds(), resourceChanges: result.changes });
  return result.outputs;
}

async function runTrain(p: Pipeline, secrets: () => PhaseSecrets, tracking: OutputMap): Promise<OutputMap> {
  const jobTrackingUri = requireOutput<string>(tracking, "jobTrackingUri", "init");
  // Jobs that ran in a failed update ran once and stay failed in state: a new key reruns them.
  const rerunKey = await lastFailedUpdate(stackOptions(p, "training", "train", async () => ({})).opts);
  const { progress, opts } = stackOptions(
    p,
    "training",
    "2/4 train",
    programFor(p, secrets, async (ctx) => trainingPhase(ctx, jobTrackingUri, rerunKey)),
  );
  const { training } = p.config;
  progress.step(`${training.modelFamily}: ${training.strategy.kind} search, ${training.cvFolds}-fold CV on ${training.scoring}, ${training.workers} worker(s); worker logs in ${path.relative(projectDir, p.ctx.paths.logDir)}/train-*.log`);
  const result = await upPhase(opts);
  const studyId = requireOutput<string>(result.outputs, "studyId", "train");
  progress.step(`study ${studyId}: ${requireOutput<number>(result.outputs, "trials", "train")} trial(s); done, ${result.changes} resource change(s)`);
  p.records.push({ name: "train", seconds: progress.seconds(), resourceChanges: result.changes, detail: { studyId } });
  return result.outputs;
}

async function runDeploy(p: Pipeline, secrets: () => PhaseSecrets, tracking: OutputMap, modelVersion: string): Promise<OutputMap> {
  const jobTrackingUri = requireOutput<string>(tracking, "jobTrackingUri", "init");
  const { name, alias } = p.metrics.registeredModel;
  const modelUri = championModelUri(name, alias);
  const { progress, opts } = stackOptions(
    p,
    "serving",
    "4/4 deploy",
    programFor(p, secrets, async (ctx) => servingPhase(ctx, { jobTrackingUri, modelUri, modelVersion })),
  );
  progress.step(`${p.config.serving.replicas} replica(s) of ${modelUri} (version ${modelVersion}) behind a load balancer`);
  const result = await upPhase(opts);
  const endpoint = requireOutput<string>(result.outputs, "endpoint", "deploy");
  progress.step(`serving at ${endpoint}: done, ${result.changes} resource change(s)`);
  p.records.push({ name: "deploy", seconds: progress.seconds(), resourceChanges: result.changes, detail: { endpoint, modelVersion } });
  return result.outputs;
}

async function destroyAll(p: Pipeline, secrets: () => PhaseSecrets): Promise<void> {
  const order = [
    ["serving", "deploy"],
    ["training", "train"],
    ["tracking", "init"],
  ] as const;
  for (const [i, [phase, name]] of order.entries()) {
    const { progress, opts } = stackOptions(p, phase, `${i + 1}/3 destroy ${name}`, programFor(p, secrets, async () => ({})));
    progress.step(`removing stack ${opts.stackName}`);
    const changes = await destroyPhase(opts);
    progress.step(`done, ${changes} resource(s) removed`);
    p.records.push({ name: `destroy-${name}`, seconds: progress.seconds(), resourceChanges: changes });
  }
}

async function runPipeline(args: PipelineArgs): Promise<void> {
  const config = loadStackConfig(projectDir, args.stack);
  const metricsFile = args.metricsFile ? path.resolve(args.metricsFile) : metricsConfigPath(projectDir);
  const metrics = loadMetricsConfig(metricsFile);
  // A champion metric the trainer never logs for this scoring would find no run: say so before any work.
  assertMetricsMatchTraining(metrics, config.training, path.relative(projectDir, metricsFile));
  const paths = localPaths(projectDir, args.stack);
  // Resolved once: the programs get them as Pulumi secrets, select gets the admin password.
  const plainSecrets = resolveSecrets(config, args.stack, paths.stateDir);
  const secrets = secretOutputs(plainSecrets);
  const p: Pipeline = {
    args,
    config,
    metrics,
    ctx: { stack: args.stack, config, paths, secrets: {} },
    workspace: await pulumiWorkspace(projectDir),
    records: [],
  };
  const startedAt = new Date().toISOString();
  const finish = (ok: boolean, error?: string) =>
    writeRunRecord(paths.stateDir, { stack: args.stack, startedAt, finishedAt: new Date().toISOString(), ok, error, phases: p.records });
  try {
    if (args.destroy) {
      await destroyAll(p, secrets);
    } else {
      const wants = (phase: (typeof phases)[number]) => args.phase === "all" || args.phase === phase;
      const stored = (phase: "tracking" | "training" | "serving") => phaseOutputs(stackOptions(p, phase, phase, async () => ({})).opts);
      const tracking = wants("init") ? await runInit(p, secrets) : await stored("tracking");
      const training = wants("train") ? await runTrain(p, secrets, tracking) : await stored("training");
      if (wants("select") || wants("deploy")) {
        // On kubernetes MLflow is reached through `kubectl port-forward` while selection runs.
        const selected = await withTrackingAccess(config, tracking, () =>
          runSelectPhase({
            config,
            metrics,
            metricsFile: path.relative(projectDir, metricsFile),
            trackingUri: requireOutput<string>(tracking, "driverTrackingUri", "init"),
            studyId: requireOutput<string>(training, "studyId", "train"),
            authPassword: plainSecrets.authAdminPassword,
            records: p.records,
          }),
        );
        if (wants("deploy")) {
          const serving = await runDeploy(p, secrets, tracking, selected.modelVersion);
          if (args.phase === "all") await smokePrediction(requireOutput<string>(serving, "endpoint", "deploy"), p.records);
        }
      }
    }
    const file = finish(true);
    console.log(`pipeline ${args.destroy ? "destroyed" : "finished"}: ${p.records.map((r) => `${r.name} ${r.seconds.toFixed(1)} s/${r.resourceChanges} change(s)`).join(", ")}; record in ${path.relative(projectDir, file)}`);
  } catch (err) {
    finish(false, err instanceof Error ? err.message : String(err));
    throw err;
  }
}

if (require.main === module) runMain(() => runPipeline(parsePipelineArgs(process.argv.slice(2))));
