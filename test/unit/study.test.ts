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
        "experimentName",
        "modelFamily",
        "schemaVersion",
        "scoring",
        "seed",
        "studyId",
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
        modelFamily: "random_forest",
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

  it("carries class weights only when given", () => {
    const [shard] = buildShardSpecs("dev", training({ dataset: { generate: { classes: 2, weights: [0.8, 0.2] } } }));
    expect(shard.dataset.generate.weights).toEqual([0.8, 0.2]);
  });

  it("says how many workers were asked for when fewer run", () => {
    const plan = planStudy("dev", training({ workers: 50 }));
    expect([plan.requestedWorkers, plan.shards.length, plan.trials.length]).toEqual([50, 7, 7]);
  });
});
