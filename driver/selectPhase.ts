import type { MetricsConfig, StackConfig } from "../config";
import { formatTopRuns, MlflowClient, registerChampion, selectChampion } from "../programs/select";
import type { PhaseRecord } from "./lastRun";
import { PhaseProgress } from "./progress";

export interface SelectPhaseArgs {
  /** The progress label, e.g. `3/4 select`. */
  readonly label: string;
  readonly config: StackConfig;
  readonly metrics: MetricsConfig;
  /** Shown in progress lines, so the user sees which selection config was applied. */
  readonly metricsFile: string;
  readonly trackingUri: string;
  readonly studyId: string;
  /** Basic-auth password of the tracking server's admin, when auth is on. */
  readonly authPassword?: string;
  readonly records: PhaseRecord[];
}

export interface SelectPhaseResult {
  readonly runId: string;
  readonly modelVersion: string;
  readonly changed: boolean;
}

/** select: the best eligible run of the study, server-side, registered and aliased. No Pulumi resources. */
export async function runSelectPhase(args: SelectPhaseArgs): Promise<SelectPhaseResult> {
  const progress = new PhaseProgress(args.label);
  const { metrics } = args;
  const client = new MlflowClient({
    trackingUri: args.trackingUri,
    username: args.authPassword ? args.config.tracking.auth.adminUser : undefined,
    password: args.authPassword,
  });
  progress.step(`best run of study ${args.studyId} by ${metrics.orderBy.metric} ${metrics.orderBy.direction} (${args.metricsFile})`);
  const selection = await selectChampion({ client, metrics, experimentName: args.config.training.experimentName, studyId: args.studyId });
  console.log(formatTopRuns(selection.top, metrics));
  const registration = await registerChampion({
    client,
    model: metrics.registeredModel,
    champion: { runId: selection.champion.runId, modelSource: selection.champion.modelSource },
    log: (line) => progress.step(line),
  });
  const moved = registration.status === "updated";
  progress.step(
    `${registration.name}@${registration.alias} -> version ${registration.version} (run ${registration.runId})${moved ? (registration.previousVersion ? `, was version ${registration.previousVersion}` : ", new") : ", unchanged"}`,
  );
  args.records.push({
    name: "select",
    seconds: progress.seconds(),
    resourceChanges: 0,
    detail: { runId: registration.runId, modelVersion: registration.version, aliasMoved: moved },
  });
  return { runId: registration.runId, modelVersion: registration.version, changed: moved };
}
