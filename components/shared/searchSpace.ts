import { modelId, type ParamSpec, type ParamValue, type TrainingConfig } from "../../config";
import { gridAxisValues } from "../../config/searchSpaceRules";
import { type Random, seededRandom } from "./random";
import type { TrialSpec } from "./studySpec";
import { trialKey } from "./trialKey";

/**
 * Expands a training config's search space into its trials.
 *
 * Parameters are always visited in sorted name order, so reordering keys in the YAML changes
 * neither the trials nor their order (nor the study id).
 *  - grid: the cartesian product; the last parameter (by name) varies fastest.
 *  - random: `trials` seeded samples; duplicates (same key) are dropped, keeping the first.
 *  - tpe: no fixed list: the trainer samples each trial from what the study has learnt so far.
 */

export type SearchInput = Pick<TrainingConfig, "model" | "searchSpace" | "strategy">;

export interface Expansion {
  readonly trials: readonly TrialSpec[];
  /** Parameter sets drawn or enumerated before duplicates were dropped. */
  readonly candidates: number;
  readonly duplicatesDropped: number;
}

export function expandSearch(training: SearchInput): Expansion {
  const { strategy } = training;
  const candidates =
    strategy.kind === "grid" ? gridParams(training.searchSpace) : strategy.kind === "random" ? randomParams(training.searchSpace, strategy.trials, strategy.seed) : [];
  const seen = new Set<string>();
  const trials: TrialSpec[] = [];
  for (const params of candidates) {
    const key = trialKey(modelId(training.model), params);
    if (seen.has(key)) continue;
    seen.add(key);
    trials.push({ index: trials.length, key, params });
  }
  return { trials, candidates: candidates.length, duplicatesDropped: candidates.length - trials.length };
}

export function expandTrials(training: SearchInput): TrialSpec[] {
  return [...expandSearch(training).trials];
}

type Params = Record<string, ParamValue>;

function sortedEntries(space: Readonly<Record<string, ParamSpec>>): [string, ParamSpec][] {
  return Object.entries(space).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function gridParams(space: Readonly<Record<string, ParamSpec>>): Params[] {
  const axes = sortedEntries(space).map(([name, spec]) => {
    const values = gridAxisValues(spec);
    if (values === undefined) throw new Error(`searchSpace.${name}: grid needs values or an int range: list values, or use strategy random for a float range`);
    return { name, values };
  });
  return axes.reduce<Params[]>((combos, axis) => combos.flatMap((combo) => axis.values.map((value) => ({ ...combo, [axis.name]: value }))), [{}]);
}

function randomParams(space: Readonly<Record<string, ParamSpec>>, trials: number, seed: number): Params[] {
  const rng = seededRandom(seed);
  const entries = sortedEntries(space);
  return Array.from({ length: trials }, () => Object.fromEntries(entries.map(([name, spec]) => [name, sampleParam(spec, rng)])));
}

/** Significant digits kept for sampled floats: readable in MLflow, far finer than any tuning needs. */
const floatDigits = 6;

/** One draw from a parameter's distribution: uniform, or log-uniform when `log` is set. */
export function sampleParam(spec: ParamSpec, rng: Random): ParamValue {
  if ("values" in spec) return rng.pick(spec.values);
  if (spec.type === "float") {
    const raw = spec.log ? Math.exp(logUniform(spec.low, spec.high, rng)) : spec.low + rng.next() * (spec.high - spec.low);
    return clamp(Number(raw.toPrecision(floatDigits)), spec.low, spec.high);
  }
  const steps = Math.floor((spec.high - spec.low) / spec.step);
  if (!spec.log) return spec.low + rng.int(0, steps) * spec.step;
  // Log-uniform over [low, high + 1) then floored, so every integer gets its log-share of mass.
  const drawn = Math.floor(Math.exp(logUniform(spec.low, spec.high + 1, rng)));
  return spec.low + Math.min(steps, Math.floor((clamp(drawn, spec.low, spec.high) - spec.low) / spec.step)) * spec.step;
}

function logUniform(low: number, high: number, rng: Random): number {
  return Math.log(low) + rng.next() * (Math.log(high) - Math.log(low));
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
