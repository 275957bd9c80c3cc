import { describe, expect, it } from "vitest";
import { autonameBase, autonameSuffixLength, childName, dnsLabel, labelValue, seededRandom, selectorLabels, standardLabels } from "../../components/shared";

const rfc1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe("naming", () => {
  it("names children <name>-<role>", () => {
    expect(childName("dev-tracking", "database")).toBe("dev-tracking-database");
  });

  it("keeps valid short names and rewrites the rest into DNS labels", () => {
    expect(dnsLabel("mlflow-server")).toBe("mlflow-server");
    expect(dnsLabel("My_Stack.Prod")).toBe("my-stack-prod");
    expect(dnsLabel("42-workers")).toBe("x-42-workers");
  });

  it("truncates long names with a hash of the original, so names sharing a prefix stay distinct", () => {
    const a = dnsLabel(`${"a".repeat(70)}-one`);
    const b = dnsLabel(`${"a".repeat(70)}-two`);
    expect(a.length).toBe(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/-[0-9a-f]{8}$/);
  });

  it("leaves room for Pulumi's auto-name suffix", () => {
    expect(autonameBase("x".repeat(80)).length).toBe(63 - autonameSuffixLength);
  });

  it("property: any string becomes an RFC 1035 label within the limit, over 500 seeded strings", () => {
    const rng = seededRandom(11);
    const alphabet = "aZ9-_./ :@é".split("");
    for (let i = 0; i < 500; i++) {
      const raw = Array.from({ length: rng.int(0, 90) }, () => rng.pick(alphabet)).join("");
      const max = rng.int(10, 63);
      const label = dnsLabel(raw, max);
      expect(label).toMatch(rfc1035);
      expect(label.length).toBeLessThanOrEqual(max);
    }
  });
});

describe("labels", () => {
  const args = { name: "mlflow", instance: "dev-tracking", component: "tracking", version: "3.6.0" };

  it("sets the app.kubernetes.io recommended labels", () => {
    expect(standardLabels(args)).toEqual({
      "app.kubernetes.io/name": "mlflow",
      "app.kubernetes.io/instance": "dev-tracking",
      "app.kubernetes.io/component": "tracking",
      "app.kubernetes.io/version": "3.6.0",
      "app.kubernetes.io/part-of": "mlops-pipeline",
      "app.kubernetes.io/managed-by": "pulumi",
    });
  });

  it("selects on the labels that never change (no version), a subset of the standard ones", () => {
    const selector = selectorLabels(args);
    expect(Object.keys(selector).sort()).toEqual(["app.kubernetes.io/component", "app.kubernetes.io/instance", "app.kubernetes.io/name"]);
    expect(standardLabels(args)).toMatchObject(selector);
  });

  it("makes label values Kubernetes accepts", () => {
    expect(labelValue("models:/mlops-classifier@champion")).toBe("models-mlops-classifier-champion");
    expect(labelValue(`${"v".repeat(70)}.`).length).toBe(63);
    expect(labelValue("-x-")).toBe("x");
  });
});
