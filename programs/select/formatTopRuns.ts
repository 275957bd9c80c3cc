import type { MetricsConfig } from "../../config";
import type { RankedRun } from "../../components/registry/select";

/** Params every trial of a study shares: noise in a table meant to compare trials. */
const studyWideParams = new Set(["model_family", "cv_folds", "scoring", "seed", "test_size"]);

export interface FormatOptions {
  /** Longest cell of the params column before it is cut with `…` (default 60). */
  readonly maxParamsWidth?: number;
  readonly digits?: number;
}

/**
 * A plain-text table of the best runs: rank, run id, the params that tell trials apart, the order
 * metric and each tie-breaker. Champion first, marked with `*`.
 */
export function formatTopRuns(top: readonly RankedRun[], metrics: MetricsConfig, options: FormatOptions = {}): string {
  const digits = options.digits ?? 4;
  const maxParamsWidth = options.maxParamsWidth ?? 60;
  const metricColumns = [metrics.orderBy, ...metrics.tieBreakers.filter((t) => t.metric !== metrics.orderBy.metric)];
  const header = ["rank", "run id", "params", ...metricColumns.map((m) => `${m.metric} (${m.direction})`)];
  const rows = top.map((run) => [
    `${run.rank === 1 ? "*" : " "}${run.rank}`,
    run.runId,
    truncate(keyParams(run), maxParamsWidth),
    ...metricColumns.map((m) => formatMetric(run.metrics[m.metric], digits)),
  ]);
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function keyParams(run: Pick<RankedRun, "params">): string {
  return Object.entries(run.params)
    .filter(([key]) => !studyWideParams.has(key))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
}

function formatMetric(value: number | null | undefined, digits: number): string {
  if (value === undefined) return "-";
  if (value === null || !Number.isFinite(value)) return "NaN";
  return value.toFixed(digits);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}
