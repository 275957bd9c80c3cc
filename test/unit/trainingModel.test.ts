import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { buildShardSpecs, shortHash, sklearnVersion, studyAlgorithmVersion, studyIdFor, trialKey } from "../../components/shared";
import { modelId, parseStackConfig, scorersByTask, type TrainingConfig, taskOfScoring } from "../../config";
import { stackProblems } from "./configFixtures";

const F = "Pulumi.t.yaml";
/** A stack file with `mlops:training:` then the given lines (indented under it); line 4 is the first given line. */
const stack = (platform: string, ...training: string[]) => ["config:", `  mlops:platform: ${platform}`, "  mlops:training:", ...training.map((l) => `    ${l}`), ""].join("\n");

function training(fields: Record<string, unknown>, platform = "local"): TrainingConfig {
  return parseStackConfig({ "mlops:platform": platform, "mlops:training": fields }, "test.yaml").training;
}

describe("the model as configuration: resolved once", () => {
  it("keeps the built-in default and the three aliases, under either key", () => {
    expect(training({})).toMatchObject({ model: { kind: "alias", name: "random_forest" }, task: "classification", scoring: "f1_macro" });
    expect(training({ estimator: "gradient_boosting" }).model).toEqual({ kind: "alias", name: "gradient_boosting" });
    expect(training({ modelFamily: "gradient_boosting" }).model).toEqual({ kind: "alias", name: "gradient_boosting" });
  });

  it("takes an import path or a factory, and the task from the scoring when not stated", () => {
    expect(training({ estimator: "sklearn.linear_model.Ridge", scoring: "neg_root_mean_squared_error" })).toMatchObject({
      model: { kind: "class", path: "sklearn.linear_model.Ridge" },
      task: "regression",
      scoring: "neg_root_mean_squared_error",
    });
    expect(training({ factory: "my_models:build", task: "regression" })).toMatchObject({ model: { kind: "factory", ref: "my_models:build" }, scoring: "r2" });
    expect(training({ estimator: "sklearn.svm.SVC", task: "classification" }).scoring).toBe("f1_macro");
  });

  it("leaves no raw model key behind for code to read past the resolution", () => {
    const resolved = training({ modelFamily: "gradient_boosting" });
    expect(Object.keys(resolved)).not.toEqual(expect.arrayContaining(["modelFamily"]));
    expect(Object.keys(resolved)).not.toContain("estimator");
    expect(Object.keys(resolved)).not.toContain("factory");
  });

  it("partitions config/scorers.json by task, disjointly", () => {
    const both = scorersByTask.classification.filter((s) => scorersByTask.regression.includes(s));
    expect(both).toEqual([]);
    expect(taskOfScoring("neg_mean_absolute_error")).toBe("regression");
    expect(taskOfScoring("roc_auc_ovr")).toBe("classification");
    expect(taskOfScoring("adjusted_rand_score")).toBeUndefined();
  });
});

describe("bad model keys: each a clear error at its key, before anything runs", () => {
  const cases: [string, string, string[], string][] = [
    [
      "an estimator that is no alias and no import path",
      "local",
      ["estimator: randomforest"],
      `${F}:4: mlops:training.estimator: expected one of logistic_regression, random_forest, gradient_boosting (did you mean random_forest?)`,
    ],
    [
      "estimator and factory together",
      "local",
      ["estimator: sklearn.svm.SVC", "factory: m:f", "task: classification"],
      `${F}:5: mlops:training.factory: expected either estimator or factory, not both`,
    ],
    ["a factory without module:function", "local", ["factory: build_model", "task: regression"], `${F}:4: mlops:training.factory: expected <module>:<function>`],
    ["a scorer scikit-learn does not have", "local", ["scoring: f1_makro"], `${F}:4: mlops:training.scoring: expected a scikit-learn scorer (did you mean f1_macro?)`],
    [
      "a scorer of the other task",
      "local",
      ["estimator: sklearn.linear_model.Ridge", "task: regression", "scoring: f1_macro"],
      `${F}:6: mlops:training.scoring: expected a regression scorer`,
    ],
    ["a regression scorer for a built-in classifier", "local", ["scoring: r2"], `${F}:4: mlops:training.scoring: expected a classification scorer`],
    [
      "a regression task for a built-in classifier",
      "local",
      ["estimator: random_forest", "task: regression"],
      `${F}:5: mlops:training.task: expected classification: random_forest is a classifier`,
    ],
    [
      "an import path with neither task nor scoring",
      "local",
      ["estimator: sklearn.svm.SVC"],
      `${F}:3: mlops:training.task: expected classification or regression, or a scoring that implies one`,
    ],
    ["an unpinned requirement", "local", ["requirements: [xgboost>=3.0]"], `${F}:4: mlops:training.requirements[0]: expected an exact pin such as xgboost==3.0.5`],
    ["a requirement pinned twice", "local", ["requirements: [xgboost==3.0.5, XGBoost==3.0.4]"], `${F}:4: mlops:training.requirements[1]: expected each package once`],
    ["user code on a platform whose pods do not carry it yet", "kubernetes", ["code: my_code"], `${F}:4: mlops:training.code: expected platform local or docker`],
    ["extra pins on kubernetes", "kubernetes", ["requirements: [xgboost==3.0.5]"], `${F}:4: mlops:training.requirements: expected platform local`],
    ["extra pins on docker (the engine's build may not reach PyPI)", "docker", ["requirements: [xgboost==3.0.5]"], `${F}:4: mlops:training.requirements: expected platform local`],
    [
      "a column in two feature lists",
      "local",
      ["dataset:", "  features: { numeric: [a], categorical: [a] }"],
      `${F}:5: mlops:training.dataset.features.categorical[0]: expected each column in one list`,
    ],
    [
      "the target declared as a feature",
      "local",
      ["dataset:", "  target: y", "  features: { numeric: [y, a] }"],
      `${F}:6: mlops:training.dataset.features: expected the target column "y" in no features list`,
    ],
    [
      "the group column declared as a feature",
      "local",
      ["dataset: { features: { numeric: [g, a] } }", "cv: { groupColumn: g }"],
      `${F}:5: mlops:training.cv.groupColumn: expected a column that is neither the target nor a declared feature`,
    ],
    ["an unknown pruner", "local", ["pruning: { kind: wilcox }"], `${F}:4: mlops:training.pruning.kind: expected one of none, median, percentile, wilcoxon`],
  ];
  it.each(cases)("%s", (_name, platform, lines, expected) => {
    const problems = stackProblems(stack(platform, ...lines));
    expect(
      problems.some((p) => p.startsWith(expected)),
      `${expected}\nnot among:\n${problems.join("\n")}`,
    ).toBe(true);
  });

  it("takes user code on the docker platform (its derived trainer image carries it)", () => {
    expect(stackProblems(stack("docker", "code: my_code", "factory: my_model:build", "task: classification"))).toEqual([]);
  });
});

describe("study ids and trial keys of existing stacks do not change", () => {
  it("hashes an alias config exactly as before the model keys existed", () => {
    const cfg = training({ searchSpace: { n_estimators: { values: [10, 20] } }, cvFolds: 3 });
    const before = {
      algorithm: studyAlgorithmVersion,
      dataset: cfg.dataset,
      datasetContent: { kind: "generated" },
      sklearn: sklearnVersion(),
      modelFamily: "random_forest",
      scoring: "f1_macro",
      cvFolds: 3,
      testSize: cfg.testSize,
      seed: cfg.seed,
      searchSpace: cfg.searchSpace,
      strategy: cfg.strategy,
    };
    expect(studyIdFor("dev", cfg)).toBe(`dev-${shortHash(before, 10)}`);
    expect(studyIdFor("dev", training({ modelFamily: "random_forest", searchSpace: { n_estimators: { values: [10, 20] } }, cvFolds: 3 }))).toBe(studyIdFor("dev", cfg));
    expect(trialKey(modelId(cfg.model), { n_estimators: 10 })).toBe(shortHash({ modelFamily: "random_forest", params: { n_estimators: 10 } }, 16));
  });

  it.each([
    ["an estimator class", { estimator: "sklearn.ensemble.RandomForestClassifier", task: "classification" }],
    ["a factory", { factory: "m:f", task: "classification" }],
    ["a group column", { cv: { groupColumn: "patient" } }],
    ["features", { dataset: { features: { numeric: ["a"] } } }],
    ["requirements", { requirements: ["xgboost==3.0.5"] }],
  ])("is a new study with %s", (_what, fields) => {
    expect(studyIdFor("dev", training(fields))).not.toBe(studyIdFor("dev", training({})));
  });

  it("is a new study when the user's code changes, and the same one for the same code", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-code-"));
    try {
      fs.writeFileSync(path.join(dir, "models.py"), "def build(**params):\n    return None\n");
      const withCode = () => studyIdFor("dev", training({ factory: "models:build", task: "regression", code: dir }));
      const first = withCode();
      fs.mkdirSync(path.join(dir, "__pycache__"));
      fs.writeFileSync(path.join(dir, "__pycache__", "models.cpython-311.pyc"), "compiled");
      expect(withCode()).toBe(first);
      fs.writeFileSync(path.join(dir, "models.py"), "def build(**params):\n    return 1\n");
      expect(withCode()).not.toBe(first);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the spec the trainer reads", () => {
  it("carries the resolved model, task, scoring, features, group column, code folder and pins", () => {
    const code = fs.mkdtempSync(path.join(os.tmpdir(), "user-code-"));
    fs.writeFileSync(path.join(code, "models.py"), "def build(**params):\n    return None\n");
    const [spec] = buildShardSpecs(
      "dev",
      training({
        factory: "models:build",
        task: "regression",
        code,
        requirements: ["lightgbm==4.6.0"],
        cv: { groupColumn: "site" },
        dataset: { source: "data.csv", target: "y", features: { numeric: ["a"], categorical: ["c"] } },
      }),
    );
    expect(spec).toMatchObject({
      factory: "models:build",
      task: "regression",
      scoring: "r2",
      codePath: code,
      requirements: ["lightgbm==4.6.0"],
      dataset: { groupColumn: "site", features: { numeric: ["a"], categorical: ["c"], drop: [], impute: { numeric: "median", categorical: "most_frequent" } } },
    });
    expect(spec).not.toHaveProperty("estimator");
    fs.rmSync(code, { recursive: true, force: true });
  });
});
