import { describe, expect, it } from "vitest";
import { metricsConfigSchema } from "../../config";
import { buildOrderBy, buildSearchFilter, formatNumber, paramValueAsLogged, quoteString } from "../../components/registry/searchQuery";

const config = (raw: Record<string, unknown>) => metricsConfigSchema.parse({ registeredModel: { name: "m" }, orderBy: { metric: "cv_f1_macro_mean" }, ...raw });

describe("buildSearchFilter", () => {
  it("puts the study, role and status (FINISHED: a pruned trial is KILLED) first, then metric filters, param filters and thresholds", () => {
    const filter = buildSearchFilter(
      config({
        filters: { metrics: [{ metric: "cv_f1_macro_mean", op: ">", value: 0.5 }], params: [{ param: "model_family", op: "=", value: "random_forest" }] },
        thresholds: { test_f1_macro: 0.7 },
      }),
      "study-1",
    );
    expect(filter).toBe(
      "tags.`mlops.study_id` = 'study-1' and tags.`mlops.role` = 'trial' and attributes.status = 'FINISHED'" +
        " and metrics.`cv_f1_macro_mean` > 0.5 and params.`model_family` = 'random_forest' and metrics.`test_f1_macro` >= 0.7",
    );
  });

  it("writes param values the way Python's str() logged them", () => {
    expect(paramValueAsLogged(true)).toBe("True");
    expect(paramValueAsLogged(false)).toBe("False");
    expect(paramValueAsLogged(100)).toBe("100");
    expect(buildSearchFilter(config({ filters: { params: [{ param: "fit_intercept", op: "!=", value: false }] } }), "s")).toContain("params.`fit_intercept` != 'False'");
  });

  it("double-quotes a value with an apostrophe and refuses one with both quote kinds", () => {
    expect(quoteString("it's")).toBe(`"it's"`);
    expect(() => quoteString(`it's "x"`)).toThrow(/without both ' and "/);
  });

  it("formats numbers so MLflow's parser accepts them (no 'e+')", () => {
    expect(formatNumber(1e21)).toBe("1e21");
    expect(formatNumber(1e-7)).toBe("1e-7");
    expect(formatNumber(-0.25)).toBe("-0.25");
    expect(() => formatNumber(Number.NaN)).toThrow(/finite/);
  });
});

describe("buildOrderBy", () => {
  it("orders by the metric, then tie-breakers, then run id, naming each field once", () => {
    const orderBy = buildOrderBy(
      config({
        orderBy: { metric: "cv_f1_macro_mean", direction: "desc" },
        tieBreakers: [
          { metric: "cv_f1_macro_std", direction: "asc" },
          { metric: "cv_f1_macro_mean", direction: "asc" },
          { metric: "fit_time_seconds", direction: "asc" },
        ],
      }),
    );
    expect(orderBy).toEqual(["metrics.`cv_f1_macro_mean` DESC", "metrics.`cv_f1_macro_std` ASC", "metrics.`fit_time_seconds` ASC", "attributes.run_id ASC"]);
  });
});
