import { ConfigError, type ConfigProblem, keyPath, sortByLine } from "./errors";
import * as path from "node:path";
import { type Locate, metricsConfigPath, parseMetricsConfig } from "./load";
import { type MetricsConfig, type Order, withScoring } from "./metricsConfig";
import type { TrainingConfig } from "./stackConfig";
import { readYamlSource } from "./yamlSource";
import { metricDirection, metricNames, taskTestMetrics } from "./trainerMetrics";

type LoggedBy = Pick<TrainingConfig, "scoring" | "cvFolds" | "task">;

/** Every metric the trainer logs for a study with this task, scoring and fold count. */
export function loggedMetrics(training: LoggedBy): string[] {
  const s = training.scoring;
  const folds = Array.from({ length: training.cvFolds }, (_, k) => metricNames.cvFold(s, k));
  // A Set: with scoring `accuracy`, test_<scoring> and test_accuracy are one metric.
  return [...new Set([metricNames.cvMean(s), metricNames.cvStd(s), metricNames.test(s), ...taskTestMetrics[training.task], metricNames.fitTimeSeconds, ...folds])];
}

type Ref = readonly [path: readonly PropertyKey[], name: string];

/** An ordering that puts the worst run first: a score ascending, or an error or a time descending. */
function directionProblem(order: Order, scoring: string): string | undefined {
  const metric = order.metric.replaceAll("{scoring}", scoring);
  const better = metricDirection(metric, scoring);
  if (better === "higher" && order.direction === "asc")
    return `expected desc: ${metric} is a scikit-learn score, higher is better (neg_* scorers too, which is why they are negated)`;
  if (better === "lower" && order.direction === "desc") return `expected asc: ${metric} is lower-is-better`;
  return undefined;
}

/**
 * The champion rules must name metrics the trainer really logs (or MLflow's search matches no run and
 * the select phase finds no champion), and order them best first. Checked once both files are known
 * (validate, pipeline); `{scoring}` in a name stands for the stack's scoring.
 */
export function metricsProblems(metrics: MetricsConfig, training: TrainingConfig, file: string, locate?: Locate): ConfigProblem[] {
  const logged = loggedMetrics(training);
  const s = training.scoring;
  const refs: Ref[] = [
    [["orderBy", "metric"], metrics.orderBy.metric],
    ...metrics.tieBreakers.map((t, i): Ref => [["tieBreakers", i, "metric"], t.metric]),
    ...metrics.filters.metrics.map((f, i): Ref => [["filters", "metrics", i, "metric"], f.metric]),
    ...Object.keys(metrics.thresholds).map((name): Ref => [["thresholds", name], name]),
  ];
  const shown = logged.filter((m) => !m.includes("_fold_")).join(", ");
  const at = (path: readonly PropertyKey[], message: string): ConfigProblem => {
    const line = locate?.(path);
    return { file, key: keyPath(path), message, ...(line === undefined ? {} : { line }) };
  };
  const unknown = refs
    .map(([path, written]): [readonly PropertyKey[], string] => [path, written.replaceAll("{scoring}", s)])
    .filter(([, name]) => !logged.includes(name))
    .map(([path, name]) => {
      // Pruned trials log these instead of the full CV mean, and select never considers pruned trials.
      const prunedOnly = name === metricNames.cvPartialMean(s) || name === metricNames.cvFoldsCompleted;
      return at(
        path,
        prunedOnly
          ? `${JSON.stringify(name)} is logged only on pruned trials (a mean over the folds they finished), which are never selected: use ${metricNames.cvMean(s)}`
          : `expected a metric the trainer logs for ${training.task} scoring ${s} (${shown}, cv_${s}_fold_<k>), got ${JSON.stringify(name)}`,
      );
    });
  const orders: [Order, readonly PropertyKey[]][] = [
    [metrics.orderBy, ["orderBy", "direction"]],
    ...metrics.tieBreakers.map((t, i): [Order, readonly PropertyKey[]] => [t, ["tieBreakers", i, "direction"]]),
  ];
  const backwards = orders.flatMap(([order, path]) => {
    const message = directionProblem(order, s);
    return message === undefined ? [] : [at(path, message)];
  });
  return [...unknown, ...backwards];
}

export function assertMetricsMatchTraining(metrics: MetricsConfig, training: TrainingConfig, file: string, locate?: Locate): void {
  const problems = metricsProblems(metrics, training, file, locate);
  if (problems.length > 0) throw new ConfigError(sortByLine(problems));
}

/**
 * A stack's champion rules, ready to use: `file` or the task's default, checked against the metrics
 * the trainer logs for this training config, with `{scoring}` filled in.
 */
export function loadMetricsFor(training: TrainingConfig, projectDir: string, file: string = metricsConfigPath(projectDir, training.task)): MetricsConfig {
  const shown = path.relative(projectDir, file) || file;
  const source = readYamlSource(file, shown);
  const metrics = parseMetricsConfig(source.value, shown, source.locate);
  assertMetricsMatchTraining(metrics, training, shown, source.locate);
  return withScoring(metrics, training.scoring);
}
