import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ParamSpec, SearchSpace } from "../../config";
import { expandSearch, expandTrials, type SearchInput, sampleParam, seededRandom, trialKey } from "../../components/shared";

const grid = (searchSpace: SearchSpace): SearchInput => ({ model: { kind: "alias", name: "random_forest" }, searchSpace, strategy: { kind: "grid" } });
const random = (searchSpace: SearchSpace, trials: number, seed = 42): SearchInput => ({
  model: { kind: "alias", name: "gradient_boosting" },
  searchSpace,
  strategy: { kind: "random", trials, seed },
});
const intRange = (low: number, high: number, step = 1, log = false): ParamSpec => ({ type: "int", low, high, step, log });
const floatRange = (low: number, high: number, log = false): ParamSpec => ({ type: "float", low, high, log });

describe("expandTrials: examples", () => {
  it("enumerates a grid in sorted parameter order, the last name varying fastest", () => {
    const trials = expandTrials(grid({ n_estimators: { values: [30, 60] }, max_depth: { values: [3, 6, null] } }));
    expect(trials.map((t) => t.params)).toEqual([
      { max_depth: 3, n_estimators: 30 },
      { max_depth: 3, n_estimators: 60 },
      { max_depth: 6, n_estimators: 30 },
      { max_depth: 6, n_estimators: 60 },
      { max_depth: null, n_estimators: 30 },
      { max_depth: null, n_estimators: 60 },
    ]);
    expect(trials.map((t) => t.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("keys a trial by the first 16 hex of sha256 over canonical JSON of family and params", () => {
    const [first] = expandTrials(grid({ n_estimators: { values: [30] }, max_depth: { values: [3] } }));
    const expected = createHash("sha256").update('{"modelFamily":"random_forest","params":{"max_depth":3,"n_estimators":30}}').digest("hex").slice(0, 16);
    expect(first.key).toBe(expected);
  });

  it("enumerates an int range low..high by step", () => {
    expect(expandTrials(grid({ depth: intRange(2, 9, 3) })).map((t) => t.params.depth)).toEqual([2, 5, 8]);
  });

  it("refuses a grid over a float range", () => {
    expect(() => expandTrials(grid({ lr: floatRange(0.1, 0.3) }))).toThrow("searchSpace.lr: grid needs values or an int range");
  });

  it("drops repeated settings and says how many", () => {
    const fromGrid = expandSearch(grid({ a: { values: [1, 1, 2] } }));
    expect([fromGrid.trials.length, fromGrid.candidates, fromGrid.duplicatesDropped]).toEqual([2, 3, 1]);
    const fromRandom = expandSearch(random({ a: { values: [1, 2] } }, 10));
    expect([fromRandom.trials.length, fromRandom.duplicatesDropped]).toEqual([2, 8]);
    expect(fromRandom.trials.map((t) => t.index)).toEqual([0, 1]);
  });
});

/** Seeded random search spaces for the property tests: 1-4 parameters of every kind. */
function randomSpace(seed: number, allowFloat: boolean): SearchSpace {
  const rng = seededRandom(seed);
  const space: Record<string, ParamSpec> = {};
  const count = rng.int(1, 4);
  for (let i = 0; i < count; i++) {
    const kind = rng.int(0, allowFloat ? 3 : 1);
    const name = `p${rng.int(0, 99)}_${i}`;
    if (kind === 0) space[name] = { values: [...new Set(Array.from({ length: rng.int(1, 4) }, () => rng.pick([1, 2, 3, "a", "b", true, null, 0.5])))] };
    else if (kind === 1) {
      const low = rng.int(-5, 5);
      space[name] = intRange(low, low + rng.int(0, 6), rng.int(1, 3));
    } else if (kind === 2) space[name] = floatRange(rng.next() * 2 - 1, 1 + rng.next() * 3);
    else space[name] = floatRange(10 ** -rng.int(1, 5), 10 ** rng.int(0, 2), true);
  }
  return space;
}

function axisSize(spec: ParamSpec): number {
  if ("values" in spec) return spec.values.length;
  if (spec.type === "int") return Math.floor((spec.high - spec.low) / spec.step) + 1;
  throw new Error("no grid over floats");
}

function withReversedKeys(space: SearchSpace): SearchSpace {
  return Object.fromEntries(Object.entries(space).reverse());
}

describe("expandTrials: properties over 200 seeded search spaces", () => {
  const seeds = Array.from({ length: 200 }, (_, i) => 1000 + i);

  it("a grid has as many trials as the product of its axis sizes, with unique keys and positional indexes", () => {
    for (const seed of seeds) {
      const space = randomSpace(seed, false);
      const trials = expandTrials(grid(space));
      expect(trials.length).toBe(Object.values(space).reduce((n, spec) => n * axisSize(spec), 1));
      expect(new Set(trials.map((t) => t.key)).size).toBe(trials.length);
      trials.forEach((t, i) => {
        expect(t.index).toBe(i);
      });
    }
  });

  it("the same seed draws the same trials; another seed draws others", () => {
    for (const seed of seeds) {
      const space = { ...randomSpace(seed, true), lr: floatRange(0.001, 0.5, true) };
      expect(expandTrials(random(space, 12, seed))).toEqual(expandTrials(random(space, 12, seed)));
      expect(expandTrials(random(space, 12, seed)).map((t) => t.key)).not.toEqual(expandTrials(random(space, 12, seed + 1)).map((t) => t.key));
    }
  });

  it("keys, params and order do not depend on the order parameters are written in", () => {
    for (const seed of seeds) {
      const space = randomSpace(seed, true);
      const discrete = randomSpace(seed, false);
      expect(expandTrials(random(withReversedKeys(space), 8, seed))).toEqual(expandTrials(random(space, 8, seed)));
      expect(expandTrials(grid(withReversedKeys(discrete)))).toEqual(expandTrials(grid(discrete)));
    }
    expect(trialKey("random_forest", { a: 1, b: 2 })).toBe(trialKey("random_forest", { b: 2, a: 1 }));
    expect(trialKey("random_forest", { a: 1, b: 2 })).not.toBe(trialKey("gradient_boosting", { a: 1, b: 2 }));
  });

  it("every sample lies within its range, on the step grid, or among the listed values", () => {
    for (const seed of seeds) {
      const space = randomSpace(seed, true);
      for (const trial of expandTrials(random(space, 20, seed))) {
        for (const [name, value] of Object.entries(trial.params)) {
          const spec = space[name];
          if ("values" in spec) {
            expect(spec.values).toContain(value);
            continue;
          }
          expect(typeof value).toBe("number");
          const n = value as number;
          expect(n).toBeGreaterThanOrEqual(spec.low);
          expect(n).toBeLessThanOrEqual(spec.high);
          if (spec.type === "int") expect(Number.isInteger((n - spec.low) / spec.step)).toBe(true);
        }
      }
    }
  });
});

describe("sampleParam: distributions", () => {
  it("log-uniform floats stay in bounds and spread evenly over the decades", () => {
    const rng = seededRandom(5);
    const samples = Array.from({ length: 4000 }, () => sampleParam(floatRange(1e-4, 1, true), rng) as number);
    for (const s of samples) expect(s >= 1e-4 && s <= 1).toBe(true);
    const perDecade = [0, 1, 2, 3].map((d) => samples.filter((s) => s >= 10 ** (-4 + d) && s < 10 ** (-3 + d)).length / samples.length);
    for (const share of perDecade) {
      expect(share).toBeGreaterThan(0.21);
      expect(share).toBeLessThan(0.29);
    }
  });

  it("log-uniform ints favour small values and still reach both ends", () => {
    const rng = seededRandom(9);
    const samples = Array.from({ length: 4000 }, () => sampleParam(intRange(1, 1000, 1, true), rng) as number);
    expect(samples.filter((s) => s < 10).length / samples.length).toBeGreaterThan(0.25);
    expect(Math.min(...samples)).toBe(1);
    expect(Math.max(...samples)).toBeGreaterThan(900);
    for (const s of samples) expect(Number.isInteger(s) && s >= 1 && s <= 1000).toBe(true);
  });

  it("uniform ints hit every value of a small range about equally", () => {
    const rng = seededRandom(3);
    const counts = new Map<number, number>();
    for (let i = 0; i < 6000; i++) {
      const v = sampleParam(intRange(0, 10, 5), rng) as number;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([0, 5, 10]);
    for (const c of counts.values()) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });
});
