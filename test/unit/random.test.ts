import { describe, expect, it } from "vitest";
import { seededRandom } from "../../components/shared";

describe("seededRandom", () => {
  it("repeats its sequence for a seed and differs between seeds", () => {
    const draw = (seed: number) => {
      const rng = seededRandom(seed);
      return Array.from({ length: 50 }, () => rng.next());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(2 ** 40 + 1)).not.toEqual(draw(1));
  });

  it("draws uniformly in [0, 1) and ints within their bounds", () => {
    const rng = seededRandom(123);
    const xs = Array.from({ length: 20000 }, () => rng.next());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((a, b) => a + b, 0) / xs.length - 0.5)).toBeLessThan(0.01);
    const ints = Array.from({ length: 5000 }, () => rng.int(-2, 2));
    expect([...new Set(ints)].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2]);
  });

  it("refuses seeds it cannot honour", () => {
    expect(() => seededRandom(1.5)).toThrow("expected a safe integer seed");
    expect(() => seededRandom(0).pick([])).toThrow("expected at least one item");
  });
});
