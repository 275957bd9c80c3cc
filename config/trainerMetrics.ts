import type { Scoring } from "./stackConfig";

/**
 * The metric names the trainer (images/trainer) logs to MLflow and the champion rules refer to.
 * They live in config because validating `metrics_config.yaml` against the training config needs
 * them; the trainer contract in components/shared/studySpec.ts re-exports them.
 */
export const metricNames = {
  cvMean: (scoring: Scoring) => `cv_${scoring}_mean`,
  cvStd: (scoring: Scoring) => `cv_${scoring}_std`,
  cvFold: (scoring: Scoring, fold: number) => `cv_${scoring}_fold_${fold}`,
  test: (scoring: Scoring) => `test_${scoring}`,
  testAccuracy: "test_accuracy",
  fitTimeSeconds: "fit_time_seconds",
  /** A pruned trial's mean over the folds it finished: not a full CV mean, so named apart from it. */
  cvPartialMean: (scoring: Scoring) => `cv_${scoring}_partial_mean`,
  cvFoldsCompleted: "cv_folds_completed",
} as const;
