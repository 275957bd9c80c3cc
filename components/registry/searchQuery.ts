import type { MetricsConfig, Order } from "../../config";
import { mlflowTags } from "../shared/studySpec";

/**
 * Turns `config/metrics_config.yaml` into ONE MLflow `runs/search` request: every filter runs on
 * the server (SQL), so selection cost does not grow with what the client downloads.
 *
 * MLflow's search grammar, checked against mlflow 3.6's parser (mlflow/utils/search_utils.py):
 * - keys in backticks may hold dots, spaces, `-` and `/` (`tags.\`mlops.study_id\``);
 * - string values are quoted and NOT unescaped: the parser only strips the outer quotes, so a
 *   value with `'` must be double-quoted, and one with both quote kinds cannot be expressed;
 * - numbers are sqlparse literals: `1e-7` and `1e21` parse, `1e+21` does not.
 */

/** Python's `str()` of a param, which is what MLflow stores for a logged param. */
export function paramValueAsLogged(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

export function quoteKey(kind: "metrics" | "params" | "tags" | "attributes", key: string): string {
  if (key.includes("`")) throw new Error(`${kind} name ${JSON.stringify(key)}: expected a name without backticks (MLflow search cannot quote it)`);
  return `${kind}.\`${key}\``;
}

export function quoteString(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw new Error(`value ${JSON.stringify(value)}: expected a value without both ' and " (MLflow search cannot escape quotes)`);
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`expected a finite number in a search filter, got ${value}`);
  return String(value).replace("e+", "e");
}

/**
 * The clauses that make a run a finished trial of this study. A pruned trial is a KILLED run (its
 * `mlops.pruned` tag says why), so `status = 'FINISHED'` keeps it out; a tag clause would add a join
 * to every search and drop runs logged before the tag existed.
 */
export function studyClauses(studyId: string): string[] {
  return [`${quoteKey("tags", mlflowTags.studyId)} = ${quoteString(studyId)}`, `${quoteKey("tags", mlflowTags.role)} = 'trial'`, "attributes.status = 'FINISHED'"];
}

/** The user's filters and thresholds (thresholds become `>=`), in config order. */
export function configClauses(metrics: MetricsConfig): string[] {
  return [
    ...metrics.filters.metrics.map((f) => `${quoteKey("metrics", f.metric)} ${f.op} ${formatNumber(f.value)}`),
    ...metrics.filters.params.map((f) => `${quoteKey("params", f.param)} ${f.op} ${quoteString(paramValueAsLogged(f.value))}`),
    ...Object.entries(metrics.thresholds).map(([metric, min]) => `${quoteKey("metrics", metric)} >= ${formatNumber(min)}`),
  ];
}

export function buildSearchFilter(metrics: MetricsConfig, studyId: string): string {
  return [...studyClauses(studyId), ...configClauses(metrics)].join(" and ");
}

/**
 * orderBy, then the tie-breakers, then the run id: MLflow itself falls back to `start_time DESC`
 * before the run id, which would make a tie depend on when a worker happened to start.
 * Runs without an order metric sort after all runs that have it, in either direction (MLflow's
 * SQL store sorts by "value is missing" first), so they can only be last.
 */
export function buildOrderBy(metrics: MetricsConfig): string[] {
  const keys = [metrics.orderBy, ...metrics.tieBreakers];
  const seen = new Set<string>();
  const clauses: string[] = [];
  for (const order of keys) {
    // MLflow rejects an order_by that names a field twice; the first mention decides anyway.
    if (seen.has(order.metric)) continue;
    seen.add(order.metric);
    clauses.push(orderClause(order));
  }
  return [...clauses, "attributes.run_id ASC"];
}

function orderClause(order: Order): string {
  return `${quoteKey("metrics", order.metric)} ${order.direction === "asc" ? "ASC" : "DESC"}`;
}
