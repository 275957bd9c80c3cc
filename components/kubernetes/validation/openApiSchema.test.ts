import { describe, expect, it } from "vitest";
import { trackFieldReads } from "./fieldTracker";
import { formatSchemaProblem, validateManifestSchema } from "./openApiSchema";

const deployment = () => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "ns", labels: { app: "web" }, annotations: { "example.com/note": "x" } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: {
        containers: [
          {
            name: "web",
            image: "registry.example.com/web:1.0.0",
            ports: [{ name: "http", containerPort: 8080 }],
            env: [{ name: "A", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: 1, memory: "256Mi" } },
            readinessProbe: { httpGet: { path: "/ping", port: "http" } },
          },
        ],
      },
    },
  },
});

const problems = (manifest: unknown) => validateManifestSchema(manifest).map(formatSchemaProblem);

describe("validateManifestSchema (kubernetes-models OpenAPI validators, strict fields)", () => {
  it("accepts a valid Deployment, Service, Secret and HPA", () => {
    expect(problems(deployment())).toEqual([]);
    expect(problems({ apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "http" }] } })).toEqual([]);
    expect(problems({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, type: "Opaque", stringData: { password: "x" } })).toEqual([]);
    const hpa = {
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "h" },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        minReplicas: 2,
        maxReplicas: 5,
        metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
      },
    };
    expect(problems(hpa)).toEqual([]);
  });

  it("reports wrong types, missing required fields and bad enum values with their paths", () => {
    const bad = deployment();
    const spec: Record<string, unknown> = bad.spec;
    spec.replicas = "two";
    delete spec.selector;
    Object.assign(bad.spec.template.spec.containers[0], { imagePullPolicy: "Sometimes" });
    expect(problems(bad)).toEqual([
      "spec.selector: required field is missing",
      "spec.replicas: must be integer",
      'spec.template.spec.containers.0.imagePullPolicy: must be one of ["Always","IfNotPresent","Never"]',
    ]);
  });

  it("rejects fields the schema does not know, however deep (a typo would otherwise pass)", () => {
    const typo = deployment();
    Object.assign(typo.spec.template.spec.containers[0], { resource: { limits: { cpu: 1 } } });
    Object.assign(typo.metadata, { label: { app: "web" } });
    expect(problems(typo)).toEqual(["metadata.label: unknown field (not in the schema)", "spec.template.spec.containers.0.resource: unknown field (not in the schema)"]);
  });

  it("does not judge free-form maps (labels, annotations, Secret data)", () => {
    const m = deployment();
    Object.assign(m.metadata, { labels: { "any.key/name": "v", other: "w" } });
    expect(problems(m)).toEqual([]);
  });

  it("names unknown kinds and refuses apiVersions that are not module-safe", () => {
    expect(problems({ apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } })).toEqual([
      "apiVersion: no schema for apps/v1 Deploymnet in kubernetes-models 4.5.1 (Kubernetes OpenAPI): expected a built-in Kubernetes apiVersion/kind",
    ]);
    expect(problems({ apiVersion: "../../../etc/v1", kind: "Passwd" })[0]).toContain("no schema for ../../../etc/v1 Passwd");
    expect(problems({ kind: "Pod" })).toEqual(["expected apiVersion and kind"]);
  });
});

describe("trackFieldReads", () => {
  it("reports own keys of objects the reader looked into but never read", () => {
    const t = trackFieldReads({ a: { x: 1, y: 2 }, b: { z: 3 }, c: [{ k: 1, j: 2 }] });
    const doc = t.tracked as { a: { x: number }; b: unknown; c: { k: number }[] };
    void doc.a.x;
    void doc.b;
    void doc.c[0]?.k;
    expect(t.unknownFields()).toEqual(["a.y", "c.0.j"]);
  });

  it("treats enumerated objects as maps whose every key is known", () => {
    const t = trackFieldReads({ labels: { a: "1", b: "2" } });
    const doc = t.tracked as { labels: Record<string, string> };
    expect(Object.keys(doc.labels)).toEqual(["a", "b"]);
    expect(t.unknownFields()).toEqual([]);
  });
});
