import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig, type TrainingConfig } from "../../config";
import { buildShardSpecs, datasetFingerprint, planStudy, sklearnVersion, studyIdFor } from "../../components/shared";

/** A parsed training config (defaults filled in) with `overrides` applied as a user would write them. */
function training(overrides: Record<string, unknown> = {}): TrainingConfig {
  return parseStackConfig(
    {
      "mlops:platform": "local",
      "mlops:training": {
        strategy: { kind: "random", trials: 7, seed: 3 },
        searchSpace: { depth: { type: "int", low: 2, high: 9 }, lr: { type: "float", low: 0.01, high: 0.3, log: true } },
        ...overrides,
      },
    },
    "test.yaml",
  ).training;
}

describe("studyIdFor", () => {
  const base = studyIdFor("dev", training());

  it("is <stack>-<10 hex> and deterministic", () => {
    expect(base).toMatch(/^dev-[0-9a-f]{10}$/);
    expect(studyIdFor("dev", training())).toBe(base);
  });

  it.each([
    ["workers", { workers: 7 }],
    ["retries", { retries: 0 }],
    ["maxFailedTrials", { maxFailedTrials: 3 }],
    ["resources", { resources: { cpuLimit: "4" } }],
    ["the order parameters are written in", { searchSpace: { lr: { type: "float", low: 0.01, high: 0.3, log: true }, depth: { type: "int", low: 2, high: 9 } } }],
    ["a default written out", { cvFolds: 5 }],
  ])("does not change with %s", (_what, overrides) => {
    expect(studyIdFor("dev", training(overrides))).toBe(base);
  });

  it.each([
    ["dataset", { dataset: { generate: { rows: 3000 } } }],
    ["model family", { modelFamily: "gradient_boosting" }],
    ["scoring", { scoring: "accuracy" }],
    ["folds", { cvFolds: 3 }],
    ["test size", { testSize: 0.3 }],
    ["seed", { seed: 1 }],
    ["search space", { searchSpace: { depth: { type: "int", low: 2, high: 10 } } }],
    ["strategy", { strategy: { kind: "random", trials: 7, seed: 4 } }],
  ])("changes with the %s", (_what, overrides) => {
    expect(studyIdFor("dev", training(overrides))).not.toBe(base);
  });

  it("covers the dataset's content: same bytes, same study; new bytes at the same path, a new study", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "study-data-"));
    try {
      const file = path.join(dir, "train.csv");
      const withFile = () => studyIdFor("dev", training({ dataset: { source: file, target: "y" } }));
      fs.writeFileSync(file, "x,y\n1,0\n2,1\n");
      const first = withFile();
      expect(withFile()).toBe(first);
      fs.writeFileSync(file, "x,y\n1,0\n2,1\n"); // rewritten (new mtime), same bytes
      expect(withFile()).toBe(first);
      fs.writeFileSync(file, "x,y\n1,0\n3,1\n");
      const changed = withFile();
      expect(changed).not.toBe(first);
      expect(datasetFingerprint(file)).toEqual({ kind: "file", bytes: 12, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(datasetFingerprint(path.basename(file), dir)).toEqual(datasetFingerprint(file));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("leaves data it cannot read here (s3://, a path inside a container) to the trainer's check", () => {
    expect(datasetFingerprint("s3://bucket/train.csv")).toEqual({ kind: "checked-by-trainer" });
    expect(datasetFingerprint("/data/only-in-the-container.csv")).toEqual({ kind: "checked-by-trainer" });
    expect(datasetFingerprint("generated")).toEqual({ kind: "generated" });
  });

  it("covers the scikit-learn version pinned in python/requirements.lock", () => {
    expect(sklearnVersion()).toMatch(/^\d+\.\d+\.\d+$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "study-lock-"));
    try {
      fs.writeFileSync(path.join(dir, "lock"), "numpy==2.3.5\nscikit-learn==1.8.0 ; python_full_version >= '3.11'\n");
      expect(sklearnVersion(path.join(dir, "lock"))).toBe("1.8.0");
      fs.writeFileSync(path.join(dir, "lock"), "numpy==2.3.5\n");
      expect(() => sklearnVersion(path.join(dir, "lock"))).toThrow(/no scikit-learn==<version> pin/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes any stack name a DNS-safe prefix and keeps the id within 63 characters", () => {
    expect(studyIdFor("Team/Dev_1", training())).toMatch(/^team-dev-1-[0-9a-f]{10}$/);
    const long = studyIdFor("x".repeat(100), training());
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z][-a-z0-9]*[a-z0-9]$/);
  });
});

describe("buildShardSpecs", () => {
  it("writes the studySpec.ts JSON contract, one spec per worker that runs", () => {
    const cfg = training({ workers: 3 });
    const shards = buildShardSpecs("dev", cfg);
    expect(shards.map((s) => s.workerIndex)).toEqual([0, 1, 2]);
    const roundTripped = JSON.parse(JSON.stringify(shards));
    expect(roundTripped).toEqual(shards);
    for (const shard of roundTripped) {
      expect(Object.keys(shard).sort()).toEqual([
        "cvFolds",
        "dataset",
        "estimator",
        "experimentName",
        "pruning",
        "queue",
        "schemaVersion",
        "scoring",
        "search",
        "seed",
        "studyId",
        "task",
        "testSize",
        "totalTrials",
        "trials",
        "workerIndex",
        "workers",
      ]);
      expect(Object.keys(shard.dataset).sort()).toEqual(["generate", "source", "target"]);
      expect(Object.keys(shard.dataset.generate).sort()).toEqual(["classes", "features", "informative", "rows", "seed"]);
      expect(shard).toMatchObject({
        schemaVersion: 1,
        studyId: studyIdFor("dev", cfg),
        workers: 3,
        totalTrials: 7,
        cvFolds: 5,
        scoring: "f1_macro",
        testSize: 0.2,
        seed: 42,
        estimator: "random_forest",
        task: "classification",
        experimentName: "mlops-pipeline",
      });
      for (const trial of shard.trials) expect(trial.index % 3).toBe(shard.workerIndex);
    }
    expect(shards.flatMap((s) => s.trials).length).toBe(7);
  });

  it("carries training.maxFailedTrials to every worker only when set, and refuses a negative one", () => {
    expect(buildShardSpecs("dev", training({ maxFailedTrials: 0 })).map((s) => s.maxFailedTrials)).toEqual([0, 0]);
    expect("maxFailedTrials" in (buildShardSpecs("dev", training())[0] ?? {})).toBe(false);
    expect(() => training({ maxFailedTrials: -1 })).toThrow(/maxFailedTrials.*expected an integer >= 0/s);
  });

  it("gives every worker of a shared (journal) queue the whole list, and shards it otherwise", () => {
    const cfg = training({ workers: 3 });
    const shared = buildShardSpecs("dev", cfg, { queue: "journal" });
    expect(shared.map((s) => [s.queue, s.trials.length])).toEqual([
      ["journal", 7],
      ["journal", 7],
      ["journal", 7],
    ]);
    expect(buildShardSpecs("dev", cfg).map((s) => [s.queue, s.trials.length])).toEqual([
      ["shard", 3],
      ["shard", 2],
      ["shard", 2],
    ]);
    expect(shared[0]?.search).toEqual({ kind: "random", budget: 7, seed: 3 });
    expect(shared[0]?.studyId).toBe(studyIdFor("dev", cfg)); // the queue is how, not what: same study
  });

  it("plans tpe as a budget and a space for the trainer to sample, with its pruning", () => {
    const cfg = training({ strategy: { kind: "tpe", trials: 20, seed: 9 }, pruning: { kind: "median", afterFolds: 2, warmupTrials: 3 }, workers: 4 });
    const plan = planStudy("dev", cfg, { queue: "journal" });
    expect(plan.trials).toEqual([]);
    expect(plan.study).toMatchObject({
      totalTrials: 20,
      search: { kind: "tpe", budget: 20, seed: 9, space: cfg.searchSpace },
      pruning: { kind: "median", afterFolds: 2, warmupTrials: 3, percentile: 25 },
    });
    expect(plan.shards.map((s) => s.workerIndex)).toEqual([0, 1, 2, 3]);
    expect(planStudy("dev", training({ strategy: { kind: "tpe", trials: 2 }, workers: 4 })).shards).toHaveLength(2);
    expect(studyIdFor("dev", cfg)).not.toBe(
      studyIdFor("dev", training({ strategy: { kind: "tpe", trials: 20, seed: 10 }, pruning: { kind: "median", afterFolds: 2, warmupTrials: 3 }, workers: 4 })),
    );
  });

  it("refuses pruning that could never stop a trial, and log int ranges with steps under tpe", () => {
    expect(() => training({ cvFolds: 3, pruning: { kind: "median", afterFolds: 3 } })).toThrow(/pruning\.afterFolds.*expected fewer than cvFolds \(3\)/s);
    expect(() => training({ pruning: { kind: "percentile", percentile: 100 } })).toThrow(/percentile.*between 0 and 100/s);
    expect(() => training({ strategy: { kind: "tpe", trials: 5 }, searchSpace: { n: { type: "int", low: 1, high: 64, step: 2, log: true } } })).toThrow(
      /searchSpace\.n\.step.*expected step 1/s,
    );
  });

  it("carries class weights only when given", () => {
    const [shard] = buildShardSpecs("dev", training({ dataset: { generate: { classes: 2, weights: [0.8, 0.2] } } }));
    expect(shard.dataset.generate.weights).toEqual([0.8, 0.2]);
  });

  it("says how many workers were asked for when fewer run", () => {
    const plan = planStudy("dev", training({ workers: 50 }));
    expect([plan.requestedWorkers, plan.shards.length, plan.trials.length]).toEqual([50, 7, 7]);
  });
});
