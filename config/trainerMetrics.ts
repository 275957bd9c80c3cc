import type { Scoring } from "./stackConfig";
import { trainerContract } from "./trainerContract";

const { metrics } = trainerContract;
/** A metric name template of the contract (`cv_{scoring}_mean`) with its fields filled in. */
const fill = (template: string, fields: Readonly<Record<string, string | number>>) => template.replace(/\{(\w+)\}/g, (_, field: string) => String(fields[field]));

/**
 * The metric names the trainer (images/trainer) logs to MLflow and the champion rules refer to, from the
 * templates of config/trainerContract.json (the trainer fills the same ones). They live in config because
 * validating `metrics_config.yaml` against the training config needs them; components/shared/studySpec.ts
 * re-exports them.
 */
export const metricNames = {
  cvMean: (scoring: Scoring) => fill(metrics.cvMean, { scoring }),
  cvStd: (scoring: Scoring) => fill(metrics.cvStd, { scoring }),
  cvFold: (scoring: Scoring, fold: number) => fill(metrics.cvFold, { scoring, fold }),
  test: (scoring: Scoring) => fill(metrics.test, { scoring }),
  testAccuracy: metrics.testAccuracy,
  fitTimeSeconds: metrics.fitTimeSeconds,
  /** A pruned trial's mean over the folds it finished: not a full CV mean, so named apart from it. */
  cvPartialMean: (scoring: Scoring) => fill(metrics.cvPartialMean, { scoring }),
  cvFoldsCompleted: metrics.cvFoldsCompleted,
} as const;
