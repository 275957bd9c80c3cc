import { z } from "zod";

/**
 * `config/metrics_config.yaml`: how the champion is chosen among a study's finished runs.
 * Filters follow MLflow's search semantics (AND only; `= != > >= < <=`), so they are sent to the
 * server as one filter string and never evaluated by scanning runs on the client.
 */

export const comparators = ["=", "!=", ">", ">=", "<", "<="] as const;
export type Comparator = (typeof comparators)[number];

/** `{scoring}` in a name stands for the stack's `training.scoring`, so one file serves every scorer of a task. */
const name = z.string().regex(/^([A-Za-z0-9_.\-/ ]|\{scoring\})+$/, "expected an MLflow metric or param name ({scoring} stands for the stack's scoring)");

export const metricFilterSchema = z.object({ metric: name, op: z.enum(comparators), value: z.number() }).strict();
export const paramFilterSchema = z.object({ param: name, op: z.enum(["=", "!="]), value: z.union([z.string(), z.number(), z.boolean()]) }).strict();

export const orderSchema = z.object({ metric: name, direction: z.enum(["asc", "desc"]).default("desc") }).strict();
export type Order = z.infer<typeof orderSchema>;

export const metricsConfigSchema = z
  .object({
    filters: z
      .object({
        metrics: z.array(metricFilterSchema).default([]),
        params: z.array(paramFilterSchema).default([]),
      })
      .strict()
      .default({ metrics: [], params: [] }),
    /** Minimum values a champion must reach, e.g. `{ test_f1_macro: 0.7 }`; sent as `>=` filters. */
    thresholds: z.record(name, z.number()).default({}),
    orderBy: orderSchema,
    /** Compared in turn when runs tie on `orderBy`; the run id breaks any tie left. */
    tieBreakers: z.array(orderSchema).default([]),
    registeredModel: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "expected a registered model name"),
        alias: z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, "expected an alias such as champion")
          .refine((a) => !/^v\d+$/i.test(a), "expected an alias that is not a version like v1")
          .default("champion"),
      })
      .strict(),
    /** How many of the best runs the select phase prints. */
    showTop: z.number().int().min(1).max(100).default(5),
  })
  .strict();
export type MetricsConfig = z.infer<typeof metricsConfigSchema>;

/** The config with `{scoring}` replaced by the stack's scorer in every metric name. */
export function withScoring(metrics: MetricsConfig, scoring: string): MetricsConfig {
  const fill = (metric: string) => metric.replaceAll("{scoring}", scoring);
  return {
    ...metrics,
    filters: { ...metrics.filters, metrics: metrics.filters.metrics.map((f) => ({ ...f, metric: fill(f.metric) })) },
    thresholds: Object.fromEntries(Object.entries(metrics.thresholds).map(([metric, value]) => [fill(metric), value])),
    orderBy: { ...metrics.orderBy, metric: fill(metrics.orderBy.metric) },
    tieBreakers: metrics.tieBreakers.map((t) => ({ ...t, metric: fill(t.metric) })),
  };
}
