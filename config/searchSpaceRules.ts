import type { z } from "zod";

/**
 * What a search-space entry means for a grid. Kept next to the schema so validation and the trial
 * expansion in components/shared agree on it.
 *
 * Structural types only (not the schema's inferred types) so the schema file can use these rules
 * inside its own refinements.
 */

export type GridValue = string | number | boolean | null;
export type GridParamSpec = { readonly values: readonly GridValue[] } | { readonly type: "int" | "float"; readonly low: number; readonly high: number; readonly step?: number };

/** Largest grid a study may expand to; a bigger one is almost always a typo in a range. */
export const maxGridTrials = 10_000;

/** How many values a grid takes for one parameter; undefined for a float range (a grid cannot enumerate it). */
export function gridAxisSize(spec: GridParamSpec): number | undefined {
  if ("values" in spec) return spec.values.length;
  if (spec.type !== "int") return undefined;
  return Math.max(0, Math.floor((spec.high - spec.low) / (spec.step ?? 1)) + 1);
}

/** The values a grid takes for one parameter: the listed values, or low..high by step for an int range. */
export function gridAxisValues(spec: GridParamSpec): readonly GridValue[] | undefined {
  if ("values" in spec) return spec.values;
  const size = gridAxisSize(spec);
  if (size === undefined) return undefined;
  return Array.from({ length: size }, (_, i) => spec.low + i * (spec.step ?? 1));
}

/** Problems with using `space` as a grid: float ranges, and grids too large to run. */
export function gridProblems(space: Readonly<Record<string, GridParamSpec>>, ctx: z.core.$RefinementCtx, basePath: readonly PropertyKey[]): void {
  let size = 1;
  for (const [name, spec] of Object.entries(space)) {
    const axisSize = gridAxisSize(spec);
    if (axisSize === undefined) {
      ctx.addIssue({ code: "custom", path: [...basePath, name], message: "grid needs values or an int range: list values, or use strategy random for a float range" });
      continue;
    }
    size *= axisSize;
  }
  if (size > maxGridTrials) {
    ctx.addIssue({ code: "custom", path: [...basePath], message: `expected a grid of at most ${maxGridTrials} trials, got ${size}` });
  }
}
