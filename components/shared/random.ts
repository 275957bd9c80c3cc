/**
 * A small seeded PRNG (mulberry32) so random search is reproducible across machines and Node
 * versions: `Math.random` cannot be seeded, and the study id promises "same config, same trials".
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [low, high] (both inclusive). */
  int(low: number, high: number): number;
  /** One item, uniformly. */
  pick<T>(items: readonly T[]): T;
}

/** Any finite integer seed works; seeds beyond 32 bits are folded in rather than truncated. */
export function seededRandom(seed: number): Random {
  if (!Number.isSafeInteger(seed)) throw new Error(`seededRandom: expected a safe integer seed, got ${seed}`);
  let state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    next,
    int: (low, high) => low + Math.floor(next() * (high - low + 1)),
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error("seededRandom.pick: expected at least one item");
      return items[Math.floor(next() * items.length)];
    },
  };
}
