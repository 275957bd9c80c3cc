import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadMetricsConfig, loadStackConfig, metricsConfigPath, metricsProblems, parseStackConfig } from "../../config";
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
      'orderBy.metric: expected a metric the trainer logs for scoring accuracy (cv_accuracy_mean, cv_accuracy_std, test_accuracy, fit_time_seconds, cv_accuracy_fold_<k>), got "cv_f1_macro_mean"',
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
});
