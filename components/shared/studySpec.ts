import type { FeaturesConfig, ParamValue, PruningConfig, Scoring, SearchSpace, Task } from "../../config";
import { trainerContract } from "../../config/trainerContract";

/**
 * The contract between the orchestration (TypeScript) and the trainer (Python, images/trainer).
 * One JSON file per worker shard; the trainer reads it with `--spec <file>`, where `{index}` in
 * the path is replaced by the worker index (`--worker-index` or JOB_COMPLETION_INDEX).
 */
export interface TrialSpec {
  /** Position in the expanded search space (0-based), stable for a given config. */
  readonly index: number;
  /** Stable hash of model family + params: a rerun recognises finished trials by it. */
  readonly key: string;
  /** Estimator constructor arguments. */
  readonly params: Readonly<Record<string, ParamValue>>;
}

export interface DatasetSpec {
  /** `generated` (synthesised by the trainer from `generate`), a CSV/Parquet path, or an `s3://` URI. */
  readonly source: string;
  readonly target: string;
  readonly generate: {
    readonly rows: number;
    readonly features: number;
    readonly informative: number;
    readonly classes: number;
    readonly weights?: readonly number[];
    readonly seed: number;
  };
  /** Column roles and missing-value policy (config/trainingFeatures.ts); absent: every column but the target is numeric. */
  readonly features?: FeaturesConfig;
  /** Rows sharing a value of this column stay in one fold (GroupKFold / StratifiedGroupKFold). */
  readonly groupColumn?: string;
}

/** How the trainer finds its trials: a fixed list enqueued once (grid, random) or sampled (tpe). */
export interface SearchPlan {
  readonly kind: "grid" | "random" | "tpe";
  /** Trials the study runs: the fixed list's length, or tpe's `strategy.trials`. */
  readonly budget: number;
  readonly seed: number;
  /** tpe only: the search space the trainer samples from. */
  readonly space?: SearchSpace;
}

/**
 * `journal`: every worker pulls from one Optuna study in a journal file beside the specs (local
 * platform: the workers share a disk). `rdb`: the same in the database at the workers' env
 * MLOPS_OPTUNA_STORAGE (the stack's PostgreSQL). `shard`: worker k runs its own `trials` (trial i
 * on worker i % workers), or its share of a tpe budget.
 */
export type TrialQueue = (typeof trainerContract.queues)[number];

export interface StudySpec {
  readonly schemaVersion: 1;
  /** Derived from the training config, so the same config always means the same study. */
  readonly studyId: string;
  readonly experimentName: string;
  /** An alias (random_forest, ...) or the import path of a scikit-learn-API class; absent when `factory` is set. */
  readonly estimator?: string;
  /** `<module>:<function>` in the user's code, called with a trial's params; it returns the estimator. */
  readonly factory?: string;
  readonly task: Task;
  readonly scoring: Scoring;
  /** The user's code folder as the workers see it: on their import path, and logged with the model. */
  readonly codePath?: string;
  /** Extra exact pins the platform installed; logged with the model's requirements. */
  readonly requirements?: readonly string[];
  readonly cvFolds: number;
  readonly testSize: number;
  readonly seed: number;
  readonly dataset: DatasetSpec;
  /** Total trials in the study, across all shards. */
  readonly totalTrials: number;
  /** `training.maxFailedTrials`: more failed trials fail the train phase; absent means no limit. */
  readonly maxFailedTrials?: number;
  readonly search?: SearchPlan;
  readonly pruning?: PruningConfig;
  readonly queue?: TrialQueue;
}

export interface ShardSpec extends StudySpec {
  readonly workerIndex: number;
  readonly workers: number;
  /** `shard` queue: only this worker's trials (trial i on worker i % workers); `journal`: all of them, for prepare. */
  readonly trials: readonly TrialSpec[];
}

/**
 * MLflow tags the trainer writes and the select phase reads (config/trainerContract.json). `modelSource`:
 * the exact `source` to register for the run's model (differs between MLflow 2 and 3); `pruned`: `true` on
 * a trial the pruner stopped (a KILLED run), `false` on every other trial run.
 */
export const mlflowTags = trainerContract.mlflowTags;

/** Defined beside the config that validates the champion rules against them. */
export { metricNames } from "../../config/trainerMetrics";
