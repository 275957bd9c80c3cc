import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { buildServingDeployment, servingApiKeyKey } from "../../components/kubernetes/servingManifests";
import { parseStackConfig, servingAuthEnabled, servingWorkers } from "../../config";
import { predictOne } from "../../driver/predict";
import { resolveSecrets } from "../../driver/secrets";

// serving.auth and serving.workers: the default rules, the kubernetes wiring (local and docker are in
// localComponents.test.ts and dockerSpecs.test.ts), and the driver sending the key.

const config = (platform: string, serving: Record<string, unknown> = {}) =>
  parseStackConfig({ "mlops:platform": platform, "mlops:serving": serving, ...(platform === "kubernetes" ? { "mlops:kubernetes": {} } : {}) }, `Pulumi.${platform}.yaml`);

describe("serving.auth and serving.workers defaults", () => {
  it("asks for a key by default where the API is reachable beyond loopback, and lets the config decide", () => {
    expect(servingAuthEnabled({ platform: "local", serving: {} })).toBe(false);
    expect(servingAuthEnabled({ platform: "docker", serving: {} })).toBe(true);
    expect(servingAuthEnabled({ platform: "kubernetes", serving: {} })).toBe(false);
    expect(servingAuthEnabled({ platform: "kubernetes", serving: { ingress: { host: "m.example.com", className: "nginx" } } })).toBe(true);
    expect(servingAuthEnabled({ platform: "local", serving: { auth: true } })).toBe(true);
    expect(servingAuthEnabled({ platform: "docker", serving: { auth: false } })).toBe(false);
  });

  it("parses the keys and refuses bad values naming them", () => {
    expect(config("local", { auth: true, workers: 2 }).serving).toMatchObject({ auth: true, workers: 2 });
    expect(() => config("local", { workers: 0 })).toThrow(/serving\.workers.*>= 1/s);
    expect(() => config("local", { auth: "yes" })).toThrow(/serving\.auth/);
  });

  it("runs one worker per replica on local and one per whole core of the CPU limit elsewhere", () => {
    const resources = (cpuLimit: string) => ({ cpuRequest: "1", memoryRequest: "1Gi", cpuLimit, memoryLimit: "2Gi" });
    expect(servingWorkers("local", { resources: resources("4") })).toBe(1);
    expect(servingWorkers("docker", { resources: resources("2") })).toBe(2);
    expect(servingWorkers("kubernetes", { resources: resources("2500m") })).toBe(2);
    expect(servingWorkers("kubernetes", { resources: resources("500m") })).toBe(1);
    expect(servingWorkers("docker", { workers: 3, resources: resources("1") })).toBe(3);
  });

  it("takes the user's key from MLOPS_SERVING_API_KEY only when auth is on", () => {
    expect(resolveSecrets(config("local", { auth: true }), { MLOPS_SERVING_API_KEY: "user-key-123456" }).servingApiKey).toBe("user-key-123456");
    expect(resolveSecrets(config("local"), { MLOPS_SERVING_API_KEY: "user-key-123456" }).servingApiKey).toBeUndefined();
  });
});

describe("kubernetes: the API key by secretKeyRef, workers, readiness", () => {
  const base = { instance: "s", namespace: "ns", image: "i:1", modelUri: "models:/m@champion", modelVersion: "1", trackingUri: "http://mlflow" };
  const envOf = (deployment: ReturnType<typeof buildServingDeployment>) => {
    const container = (deployment.spec as { template: { spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } } }).template.spec.containers[0];
    return container?.env ?? [];
  };

  it("references the Secret, never the value, and sets SERVING_WORKERS", () => {
    const serving = config("kubernetes", { auth: true }).serving;
    const env = envOf(buildServingDeployment({ ...base, serving, apiKeySecretName: "s-api-key", workers: 2 }));
    expect(env.find((e) => e.name === "SERVING_API_KEY")).toEqual({ name: "SERVING_API_KEY", valueFrom: { secretKeyRef: { name: "s-api-key", key: servingApiKeyKey } } });
    expect(env.find((e) => e.name === "SERVING_WORKERS")?.value).toBe("2");
    const spec = (buildServingDeployment({ ...base, serving }).spec as { template: { spec: { terminationGracePeriodSeconds: number; containers: { readinessProbe: unknown }[] } } })
      .template.spec;
    // One 503 from /ping (loading, draining) takes the pod out; the grace period covers drain + in-flight.
    expect(spec.containers[0]?.readinessProbe).toMatchObject({ httpGet: { path: "/ping" }, failureThreshold: 1 });
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(33);
    const open = envOf(buildServingDeployment({ ...base, serving }));
    expect(open.some((e) => e.name === "SERVING_API_KEY")).toBe(false);
    expect(open.find((e) => e.name === "SERVING_WORKERS")?.value).toBe("1");
  });
});

describe("driver/predict.ts sends the key", () => {
  const seen: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== "Bearer s3cret-key-value") {
      res.writeHead(401, { "content-type": "application/json" });
      res.end('{"error":"missing or wrong API key"}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "x-replica-id": "r0" });
    res.end(req.url === "/example" ? '{"dataframe_split":{"data":[[1]]}}' : '{"predictions":[1]}');
  });
  afterAll(() => server.close());
  const endpoint = () => new Promise<string>((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));

  it("on /example and /invocations, and says what a 401 means without printing the key", async () => {
    const url = await endpoint();
    const answer = await predictOne(url, undefined, "s3cret-key-value");
    expect(answer.predictions).toEqual([1]);
    expect(seen).toEqual(["Bearer s3cret-key-value", "Bearer s3cret-key-value"]);
    const refused = predictOne(url, { dataframe_split: { data: [[1]] } }, "wrong-key-000");
    await expect(refused).rejects.toThrow(/HTTP 401: serving.auth is on and the API key was refused/);
    await expect(refused).rejects.not.toThrow(/wrong-key-000/);
    await expect(predictOne(url, { dataframe_split: { data: [[1]] } })).rejects.toThrow(/was not given/);
  });
});
