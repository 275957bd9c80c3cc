import { describe, expect, it } from "vitest";
import { MlflowApiError, MlflowClient, MlflowUnreachableError, mlflowClientFromEnv, parseMlflowJson, splitCredentials } from "../../components/registry/mlflowClient";

interface Recorded {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

/** A fetch that answers from a script of responses (or throws for `"refused"`) and records requests. */
function scriptedFetch(script: readonly (Response | "refused")[]) {
  const requests: Recorded[] = [];
  let next = 0;
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    requests.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
    });
    const step = script[Math.min(next++, script.length - 1)];
    if (step === "refused" || step === undefined) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:1" } });
    return step.clone();
  };
  return { fetch: fake as typeof fetch, requests };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const noSleep = { sleep: async () => {}, retry: { attempts: 4 } };

describe("MlflowClient transport", () => {
  it("retries connection errors and 5xx, then succeeds", async () => {
    const { fetch, requests } = scriptedFetch([
      "refused",
      json(503, { error_code: "TEMPORARILY_UNAVAILABLE", message: "db down" }),
      json(200, { experiment: { experiment_id: "7", name: "e" } }),
    ]);
    const client = new MlflowClient({ trackingUri: "http://127.0.0.1:5000", fetch, ...noSleep });
    const experiment = await client.getExperimentByName("e");
    expect(experiment?.experiment_id).toBe("7");
    expect(requests).toHaveLength(3);
    expect(requests[0]?.url).toBe("http://127.0.0.1:5000/api/2.0/mlflow/experiments/get-by-name?experiment_name=e");
  });

  it("gives up after the bounded number of attempts and names the endpoint and last reason", async () => {
    const { fetch, requests } = scriptedFetch(["refused"]);
    const client = new MlflowClient({ trackingUri: "http://127.0.0.1:1", fetch, ...noSleep });
    const error = await client.searchRuns({ experimentIds: ["1"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowUnreachableError);
    expect(String(error)).toMatch(/runs\/search at http:\/\/127\.0\.0\.1:1 failed after 4 attempt\(s\): ECONNREFUSED/);
    expect(requests).toHaveLength(4);
  });

  it("does not retry a 4xx and reports MLflow's error_code and message", async () => {
    const { fetch, requests } = scriptedFetch([json(400, { error_code: "INVALID_PARAMETER_VALUE", message: "bad filter" })]);
    const client = new MlflowClient({ trackingUri: "http://h:1", fetch, ...noSleep });
    const error = await client.searchRuns({ experimentIds: ["1"], filter: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowApiError);
    expect(String(error)).toContain("MLflow runs/search failed: INVALID_PARAMETER_VALUE: bad filter (HTTP 400)");
    expect(requests).toHaveLength(1);
  });

  it("sends search parameters in MLflow's field names", async () => {
    const { fetch, requests } = scriptedFetch([json(200, { runs: [], next_page_token: "" })]);
    const client = new MlflowClient({ trackingUri: "http://h:1/", fetch, ...noSleep });
    const page = await client.searchRuns({ experimentIds: ["3"], filter: "f", orderBy: ["o"], maxResults: 5, pageToken: "t" });
    expect(page.nextPageToken).toBeUndefined();
    expect(requests[0]?.body).toEqual({ experiment_ids: ["3"], filter: "f", order_by: ["o"], max_results: 5, page_token: "t", run_view_type: "ACTIVE_ONLY" });
  });

  it("moves credentials from the URI into a basic-auth header and keeps them out of baseUrl", async () => {
    const { fetch, requests } = scriptedFetch([json(200, {})]);
    const client = new MlflowClient({ trackingUri: "http://alice:s%3Acret@h:1", fetch, ...noSleep });
    await client.setAlias("m", "champion", "1");
    expect(client.baseUrl).toBe("http://h:1");
    expect(requests[0]?.url).toBe("http://h:1/api/2.0/mlflow/registered-models/alias");
    expect(requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from("alice:s:cret").toString("base64")}`);
  });

  it("reads MLflow's own environment variables", async () => {
    const { fetch, requests } = scriptedFetch([json(200, {})]);
    const client = mlflowClientFromEnv({ MLFLOW_TRACKING_URI: "http://h:2", MLFLOW_TRACKING_USERNAME: "u", MLFLOW_TRACKING_PASSWORD: "p" }, { fetch });
    await client.setAlias("m", "a", "1");
    expect(requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
    expect(() => mlflowClientFromEnv({ MLFLOW_TRACKING_URI: "file:///tmp/mlruns" })).toThrow(
      /MLFLOW_TRACKING_URI: expected an http\(s\):\/\/ tracking server URL, got "file:\/\/\/tmp\/mlruns"/,
    );
  });
});

describe("MlflowClient idempotent helpers", () => {
  it("treats RESOURCE_DOES_NOT_EXIST as a missing experiment and RESOURCE_ALREADY_EXISTS as an existing model", async () => {
    const { fetch } = scriptedFetch([json(404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "no" }), json(400, { error_code: "RESOURCE_ALREADY_EXISTS", message: "exists" })]);
    const client = new MlflowClient({ trackingUri: "http://h:1", fetch, ...noSleep });
    expect(await client.getExperimentByName("none")).toBeUndefined();
    expect(await client.createRegisteredModel("m")).toBe("exists");
  });

  it("reports a missing alias as undefined", async () => {
    const { fetch } = scriptedFetch([json(400, { error_code: "INVALID_PARAMETER_VALUE", message: "Registered model alias champion not found." })]);
    const client = new MlflowClient({ trackingUri: "http://h:1", fetch, ...noSleep });
    expect(await client.getModelVersionByAlias("m", "champion")).toBeUndefined();
  });
});

describe("helpers", () => {
  it("parses Python's NaN and Infinity as null", () => {
    expect(parseMlflowJson('{"metrics":[{"key":"a","value":NaN},{"key":"b","value":-Infinity}]}')).toEqual({
      metrics: [
        { key: "a", value: null },
        { key: "b", value: null },
      ],
    });
    expect(() => parseMlflowJson("{oops")).toThrow();
  });

  it("splits credentials off a tracking URI", () => {
    expect(splitCredentials("https://u:p@mlflow.example:443/prefix/")).toEqual({ baseUrl: "https://mlflow.example/prefix", username: "u", password: "p" });
  });
});
