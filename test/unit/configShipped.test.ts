import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadMetricsConfig, loadMetricsFor, loadStackConfig, metricsConfigPath, metricsProblems, parseStackConfig } from "../../config";
import { problemLines, stackProblems } from "./configFixtures";

const repo = path.resolve(__dirname, "..", "..");

describe("the shipped config files", () => {
  it.each(["local", "dev", "prod"])("Pulumi.%s.yaml parses clean", (stack) => {
    expect(problemLines(() => loadStackConfig(repo, stack))).toEqual([]);
  });

  it("config/metrics_config.yaml parses clean and names metrics every shipped stack logs", () => {
    const metrics = loadMetricsConfig(metricsConfigPath(repo));
    for (const stack of ["local", "dev", "prod"]) {
      expect(metricsProblems(metrics, loadStackConfig(repo, stack).training, "m")).toEqual([]);
    }
  });

  it("fills platform defaults: embedded stores on local, in-stack ones elsewhere", () => {
    expect(loadStackConfig(repo, "local").tracking.database.kind).toBe("sqlite");
    expect(loadStackConfig(repo, "local").tracking.objectStore.kind).toBe("localFolder");
    const docker = parseStackConfig({ "mlops:platform": "docker" }, "x.yaml");
    expect([docker.tracking.database.kind, docker.tracking.objectStore.kind]).toEqual(["inStack", "inStack"]);
  });
});

describe("stack values around the mlops: namespace", () => {
  it("accepts secrets as secure values and ignores provider namespaces", () => {
    const yaml = ["config:", "  mlops:platform: local", "  mlops:databasePassword: { secure: AAABAHE= }", "  aws:region: eu-west-1", "  kubernetes:context: kind", ""].join("\n");
    expect(stackProblems(yaml)).toEqual([]);
  });

  it("accepts a renamed secret only as a secure value", () => {
    const base = ["config:", "  mlops:platform: local", "  mlops:tracking: { objectStore: { kind: s3, bucket: models, accessKeySecret: myKey } }"];
    expect(stackProblems([...base, "  mlops:myKey: { secure: AAAB }", ""].join("\n"))).toEqual([]);
    expect(stackProblems([...base, "  mlops:myKey: plain", ""].join("\n"))).toEqual([
      "Pulumi.t.yaml:4: mlops:myKey: expected a secret: set it with `pulumi config set --secret mlops:myKey`",
    ]);
  });

  it("reports problems without a line when values do not come from a file", () => {
    expect(problemLines(() => parseStackConfig({ "mlops:platform": "local", "mlops:training": { cvFolds: 1 } }, "Pulumi.x.yaml"))).toEqual([
      "Pulumi.x.yaml: mlops:training.cvFolds: expected an integer >= 2, got 1",
    ]);
  });

  it("names a missing stack file and the stacks that exist", () => {
    expect(problemLines(() => loadStackConfig(repo, "nope"))).toEqual([
      "Pulumi.nope.yaml: (file): expected a stack file for stack 'nope' (existing stacks: cluster, dev, local, prod)",
    ]);
  });
});

describe("metrics config against the training config", () => {
  const metrics = loadMetricsConfig(metricsConfigPath(repo));
  it("refuses metrics the trainer does not log for the stack's scoring", () => {
    const training = parseStackConfig({ "mlops:platform": "local", "mlops:training": { scoring: "accuracy" } }, "s").training;
    const lines = metricsProblems(metrics, training, "m.yaml").map((p) => `${p.key}: ${p.message}`);
    expect(lines).toContain(
      'orderBy.metric: expected a metric the trainer logs for classification scoring accuracy (cv_accuracy_mean, cv_accuracy_std, test_accuracy, fit_time_seconds, cv_accuracy_fold_<k>), got "cv_f1_macro_mean"',
    );
    expect(lines.map((l) => l.split(":")[0])).toEqual(["orderBy.metric", "tieBreakers[0].metric", "filters.metrics[0].metric", "thresholds.test_f1_macro"]);
  });

  it("refuses a pruned trial's partial mean, which no selectable run carries", () => {
    const training = parseStackConfig({ "mlops:platform": "local", "mlops:training": { scoring: "f1_macro" } }, "s").training;
    const partial = { ...metrics, orderBy: { metric: "cv_f1_macro_partial_mean", direction: "desc" as const } };
    expect(metricsProblems(partial, training, "m.yaml").map((p) => `${p.key}: ${p.message}`)).toContain(
      'orderBy.metric: "cv_f1_macro_partial_mean" is logged only on pruned trials (a mean over the folds they finished), which are never selected: use cv_f1_macro_mean',
    );
    expect(metricsProblems(metrics, training, "m.yaml")).toEqual([]);
  });
  const regression = (scoring: string) => parseStackConfig({ "mlops:platform": "local", "mlops:training": { estimator: "sklearn.linear_model.Ridge", scoring } }, "s").training;

  it.each(["r2", "neg_root_mean_squared_error", "neg_mean_absolute_error"])("serves regression scoring %s from the task's default file, {scoring} filled in", (scoring) => {
    const training = regression(scoring);
    const file = metricsConfigPath(repo, training.task);
    expect(path.basename(file)).toBe("metrics_config.regression.yaml");
    const filled = loadMetricsFor(training, repo);
    expect(filled.orderBy).toEqual({ metric: `cv_${scoring}_mean`, direction: "desc" });
    expect(filled.tieBreakers[0]?.metric).toBe(`cv_${scoring}_std`);
    expect(filled.thresholds).toEqual({ test_r2: 0 });
  });

  it("logs the task's held-out metrics: test_accuracy only for classification, test_r2 and test_rmse only for regression", () => {
    const lines = metricsProblems({ ...metrics, thresholds: { test_accuracy: 0.5 } }, regression("r2"), "m.yaml").map((p) => `${p.key}: ${p.message}`);
    expect(lines).toContain(
      'thresholds.test_accuracy: expected a metric the trainer logs for regression scoring r2 (cv_r2_mean, cv_r2_std, test_r2, test_rmse, fit_time_seconds, cv_r2_fold_<k>), got "test_accuracy"',
    );
  });

  it("refuses an ordering that would put the worst run first", () => {
    const training = regression("neg_root_mean_squared_error");
    const base = loadMetricsFor(training, repo);
    const backwards = {
      ...base,
      orderBy: { metric: "cv_neg_root_mean_squared_error_mean", direction: "asc" as const },
      tieBreakers: [{ metric: "test_rmse", direction: "desc" as const }],
    };
    expect(metricsProblems(backwards, training, "m.yaml").map((p) => `${p.key}: ${p.message}`)).toEqual([
      "orderBy.direction: expected desc: cv_neg_root_mean_squared_error_mean is a scikit-learn score, higher is better (neg_* scorers too, which is why they are negated)",
      "tieBreakers[0].direction: expected asc: test_rmse is lower-is-better",
    ]);
  });
});
