import * as path from "node:path";
import { modelId, type TrainingConfig } from "../../config";
import { codeFingerprint } from "./codeFingerprint";
import { datasetFingerprint, sklearnVersion } from "./datasetFingerprint";
import { dnsLabel } from "./naming";
import { expandSearch } from "./searchSpace";
import { effectiveWorkers, shardTrials } from "./sharding";
import type { DatasetSpec, SearchPlan, ShardSpec, StudySpec, TrialQueue, TrialSpec } from "./studySpec";
import { shortHash } from "./trialKey";

/**
 * Bumped whenever the meaning of a config changes (sampling, expansion order, trainer semantics),
 * so old MLflow runs are not mistaken for trials of the new study.
 */
export const studyAlgorithmVersion = 2;

/** Longest stack prefix in a study id: the id (`<prefix>-<10 hex>`) then fits a Kubernetes label value. */
const stackPrefixMax = 52;

/** The parts of a training config that change results; workers, retries and resources do not. */
function resultDefiningFields(training: TrainingConfig) {
  return {
    algorithm: studyAlgorithmVersion,
    dataset: training.dataset,
    datasetContent: datasetFingerprint(training.dataset.source),
    sklearn: sklearnVersion(),
    modelFamily: modelId(training.model),
    scoring: training.scoring,
    // Present only when set, so the study ids of configs from before these keys are unchanged.
    ...(training.model.kind === "alias" ? {} : { task: training.task }),
    ...(training.cv.groupColumn === undefined ? {} : { groupColumn: training.cv.groupColumn }),
    ...(training.code === undefined ? {} : { code: codeFingerprint(path.resolve(training.code)) }),
    ...(training.requirements.length === 0 ? {} : { requirements: [...training.requirements].sort() }),
    cvFolds: training.cvFolds,
    testSize: training.testSize,
    seed: training.seed,
    searchSpace: training.searchSpace,
    strategy: training.strategy,
  };
}

/**
 * `<stack>-<10 hex>`: the same stack, config, data and scikit-learn always give the same study, so a
 * rerun skips finished trials; new data at the same path is a new study (datasetFingerprint.ts).
 */
export function studyIdFor(stack: string, training: TrainingConfig): string {
  return `${dnsLabel(stack, stackPrefixMax)}-${shortHash(resultDefiningFields(training), 10)}`;
}

export interface StudyPlan {
  readonly study: StudySpec;
  readonly trials: readonly TrialSpec[];
  readonly shards: readonly ShardSpec[];
  /** `training.workers` as configured; `shards.length` is how many actually run. */
  readonly requestedWorkers: number;
  readonly duplicatesDropped: number;
}

function datasetSpec(training: TrainingConfig): DatasetSpec {
  const { dataset } = training;
  const { weights, ...generate } = dataset.generate;
  return {
    source: dataset.source,
    target: dataset.target,
    generate: weights === undefined ? generate : { ...generate, weights },
    ...(dataset.features === undefined ? {} : { features: dataset.features }),
    ...(training.cv.groupColumn === undefined ? {} : { groupColumn: training.cv.groupColumn }),
  };
}

/** The spec's model keys: what the trainer builds, the user's code folder (as the local workers see it) and the extra pins it logs. */
function modelSpec(training: TrainingConfig, codePath?: string): Pick<StudySpec, "estimator" | "factory" | "task" | "codePath" | "requirements"> {
  const { model } = training;
  return {
    ...(model.kind === "factory" ? { factory: model.ref } : { estimator: modelId(model) }),
    task: training.task,
    ...(training.code === undefined ? {} : { codePath: codePath ?? path.resolve(training.code) }),
    ...(training.requirements.length === 0 ? {} : { requirements: training.requirements }),
  };
}

export interface PlanOptions {
  /** `journal` (local platform) or `rdb` (MLOPS_OPTUNA_STORAGE): one shared study every worker pulls from; default `shard`. */
  readonly queue?: TrialQueue;
  /**
   * Where the workers read the data when it is not where the config says (a local file uploaded to the
   * stack's artifact store for docker and kubernetes workers). The study id still comes from the file's content.
   */
  readonly datasetSource?: string;
  /** Where the workers find `training.code` when the platform carries it in its image (docker); default its absolute host path. */
  readonly codePath?: string;
}

function searchPlan(training: TrainingConfig, trials: readonly TrialSpec[]): SearchPlan {
  const { strategy } = training;
  if (strategy.kind === "tpe") return { kind: "tpe", budget: strategy.trials, seed: strategy.seed, space: training.searchSpace };
  return { kind: strategy.kind, budget: trials.length, seed: strategy.kind === "random" ? strategy.seed : training.seed };
}

export function planStudy(stack: string, training: TrainingConfig, options: PlanOptions = {}): StudyPlan {
  const { trials, duplicatesDropped } = expandSearch(training);
  const queue = options.queue ?? "shard";
  const search = searchPlan(training, trials);
  const study: StudySpec = {
    schemaVersion: 1,
    studyId: studyIdFor(stack, training),
    experimentName: training.experimentName,
    ...modelSpec(training, options.codePath),
    scoring: training.scoring,
    cvFolds: training.cvFolds,
    testSize: training.testSize,
    seed: training.seed,
    dataset: { ...datasetSpec(training), ...(options.datasetSource === undefined ? {} : { source: options.datasetSource }) },
    totalTrials: search.budget,
    ...(training.maxFailedTrials === undefined ? {} : { maxFailedTrials: training.maxFailedTrials }),
    search,
    pruning: training.pruning,
    queue,
  };
  const workers = effectiveWorkers(search.budget, training.workers);
  // A shared queue hands every worker the whole list (prepare enqueues it once); tpe has no list.
  const lists = queue !== "shard" || search.kind === "tpe" ? Array.from({ length: workers }, () => trials) : shardTrials(trials, workers);
  const shards = lists.map((shardTrialList, workerIndex) => ({ ...study, workerIndex, workers, trials: shardTrialList }));
  return { study, trials, shards, requestedWorkers: training.workers, duplicatesDropped };
}

/** One spec per worker that runs: the JSON each trainer reads with `--spec`. */
export function buildShardSpecs(stack: string, training: TrainingConfig, options: PlanOptions = {}): ShardSpec[] {
  return [...planStudy(stack, training, options).shards];
}
