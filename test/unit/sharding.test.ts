import { describe, expect, it } from "vitest";
import { effectiveWorkers, seededRandom, shardTrials } from "../../components/shared";

describe("shardTrials", () => {
  it("gives worker k the trials i with i % workers == k", () => {
    expect(shardTrials([0, 1, 2, 3, 4, 5, 6], 3)).toEqual([
      [0, 3, 6],
      [1, 4],
      [2, 5],
    ]);
  });

  it("runs only as many workers as there are trials, one trial each", () => {
    expect(effectiveWorkers(3, 8)).toBe(3);
    expect(shardTrials(["a", "b", "c"], 8)).toEqual([["a"], ["b"], ["c"]]);
    expect(shardTrials([], 4)).toEqual([]);
  });

  it("refuses a worker count below 1", () => {
    expect(() => shardTrials([1], 0)).toThrow("expected workers to be an integer >= 1, got 0");
  });

  it("property: every trial in exactly one shard, none empty, sizes within 1, over 500 seeded cases", () => {
    const rng = seededRandom(77);
    for (let c = 0; c < 500; c++) {
      const trials = Array.from({ length: rng.int(1, 120) }, (_, i) => i);
      const workers = rng.int(1, 40);
      const shards = shardTrials(trials, workers);
      expect(shards.length).toBe(Math.min(workers, trials.length));
      expect(shards.flat().sort((a, b) => a - b)).toEqual(trials);
      const sizes = shards.map((s) => s.length);
      expect(Math.min(...sizes)).toBeGreaterThan(0);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      shards.forEach((shard, k) => {
        for (const i of shard) expect(i % shards.length).toBe(k);
      });
    }
  });
});
