import { ConfigError, type ConfigProblem, keyPath, sortByLine } from "./errors";
import type { Locate } from "./load";
import type { MetricsConfig } from "./metricsConfig";
import type { TrainingConfig } from "./stackConfig";
import { metricNames } from "./trainerMetrics";

/** Every metric the trainer logs for a study with this scoring and fold count. */
export function loggedMetrics(training: Pick<TrainingConfig, "scoring" | "cvFolds">): string[] {
  const s = training.scoring;
  const folds = Array.from({ length: training.cvFolds }, (_, k) => metricNames.cvFold(s, k));
  // A Set: with scoring `accuracy`, test_<scoring> and test_accuracy are one metric.
  return [...new Set([metricNames.cvMean(s), metricNames.cvStd(s), metricNames.test(s), metricNames.testAccuracy, metricNames.fitTimeSeconds, ...folds])];
}

/**
 * The champion rules must name metrics the trainer really logs, or MLflow's search matches no run
 * and the select phase finds no champion. Checked once both files are known (validate, pipeline).
 */
export function metricsProblems(metrics: MetricsConfig, training: TrainingConfig, file: string, locate?: Locate): ConfigProblem[] {
  const logged = loggedMetrics(training);
  const refs: [readonly PropertyKey[], string][] = [
    [["orderBy", "metric"], metrics.orderBy.metric],
    ...metrics.tieBreakers.map((t, i): [readonly PropertyKey[], string] => [["tieBreakers", i, "metric"], t.metric]),
    ...metrics.filters.metrics.map((f, i): [readonly PropertyKey[], string] => [["filters", "metrics", i, "metric"], f.metric]),
    ...Object.keys(metrics.thresholds).map((name): [readonly PropertyKey[], string] => [["thresholds", name], name]),
  ];
  const shown = logged.filter((m) => !m.includes("_fold_")).join(", ");
  return refs
    .filter(([, name]) => !logged.includes(name))
    .map(([path, name]) => {
      const line = locate?.(path);
      // Pruned trials log these instead of the full CV mean, and select never considers pruned trials.
      const prunedOnly = name === metricNames.cvPartialMean(training.scoring) || name === metricNames.cvFoldsCompleted;
      const message = prunedOnly
        ? `${JSON.stringify(name)} is logged only on pruned trials (a mean over the folds they finished), which are never selected: use ${metricNames.cvMean(training.scoring)}`
        : `expected a metric the trainer logs for scoring ${training.scoring} (${shown}, cv_${training.scoring}_fold_<k>), got ${JSON.stringify(name)}`;
      return { file, key: keyPath(path), message, ...(line === undefined ? {} : { line }) };
    });
}

export function assertMetricsMatchTraining(metrics: MetricsConfig, training: TrainingConfig, file: string, locate?: Locate): void {
  const problems = metricsProblems(metrics, training, file, locate);
  if (problems.length > 0) throw new ConfigError(sortByLine(problems));
}
