import type { Scoring, Task } from "./scorers";
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
  testR2: metrics.testR2,
  testRmse: metrics.testRmse,
  fitTimeSeconds: metrics.fitTimeSeconds,
  /** A pruned trial's mean over the folds it finished: not a full CV mean, so named apart from it. */
  cvPartialMean: (scoring: Scoring) => fill(metrics.cvPartialMean, { scoring }),
  cvFoldsCompleted: metrics.cvFoldsCompleted,
} as const;

/** The held-out metrics logged beside `test_<scoring>`, whatever the scoring: they follow the task. */
export const taskTestMetrics: Readonly<Record<Task, readonly string[]>> = {
  classification: [metricNames.testAccuracy],
  regression: [metricNames.testR2, metricNames.testRmse],
};

/**
 * Which way a logged metric improves: every scikit-learn score (`neg_*` ones included, which is why
 * they are negated) and every score derived from one is higher-is-better; spreads, errors and times
 * are lower-is-better. Undefined for a name the trainer does not log.
 */
export function metricDirection(metric: string, scoring: Scoring): "higher" | "lower" | undefined {
  const lower = [metricNames.cvStd(scoring), metricNames.testRmse, metricNames.fitTimeSeconds];
  if (lower.includes(metric)) return "lower";
  const higher = [metricNames.cvMean(scoring), metricNames.test(scoring), metricNames.testAccuracy, metricNames.testR2];
  const foldPrefix = metricNames.cvFold(scoring, 0).slice(0, -1);
  if (higher.includes(metric) || (metric.startsWith(foldPrefix) && /^\d+$/.test(metric.slice(foldPrefix.length)))) return "higher";
  return undefined;
}
