import { type HttpFetchInit, httpFetch } from "../shared/httpFetch";
import type { Experiment, KeyValue, MetricInput, ModelVersion, RegisteredModel, Run, RunInfo, RunStatus, SearchRunsPage, SearchRunsRequest } from "./mlflowTypes";

/**
 * A small typed client for MLflow's REST API 2.0 over node:http (`httpFetch`, which works on every
 * port, unlike Node's fetch): only the endpoints the
 * select phase, its tests and its benchmark use. No dependency on the Python client, so the
 * driver can select and register a champion without a Python environment.
 */

export interface RetryPolicy {
  /** Total tries of one request, the first included. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface MlflowClientOptions {
  /** `http(s)://host:port[/prefix]`; `user:password@` in it is moved to basic auth. */
  readonly trackingUri: string;
  readonly username?: string;
  readonly password?: string;
  /** Bearer token (MLFLOW_TRACKING_TOKEN); used when no username is given. */
  readonly token?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** Per-request timeout. */
  readonly timeoutMs?: number;
  /** Transport; default `httpFetch`. Tests pass a scripted one. */
  readonly fetch?: (url: string | URL, init: HttpFetchInit) => Promise<Response>;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Connection errors and 5xx are retried; about 30 s in all before giving up. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 8, initialDelayMs: 250, maxDelayMs: 8_000 };

/** MLflow answered with an error: names the endpoint and MLflow's error_code and message. */
export class MlflowApiError extends Error {
  constructor(
    readonly endpoint: string,
    readonly httpStatus: number,
    readonly errorCode: string,
    readonly detail: string,
  ) {
    super(`MLflow ${endpoint} failed: ${errorCode}: ${detail} (HTTP ${httpStatus})`);
    this.name = "MlflowApiError";
  }
}

/** The tracking server could not be reached (or kept failing with 5xx) after every retry. */
export class MlflowUnreachableError extends Error {
  constructor(
    readonly endpoint: string,
    readonly baseUrl: string,
    attempts: number,
    reason: string,
  ) {
    super(`MLflow ${endpoint} at ${baseUrl} failed after ${attempts} attempt(s): ${reason}`);
    this.name = "MlflowUnreachableError";
  }
}

type Query = Record<string, string | number | undefined>;

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class MlflowClient {
  /** Tracking URI without credentials; safe to print. */
  readonly baseUrl: string;
  private readonly authorization?: string;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetchImpl: (url: string | URL, init: HttpFetchInit) => Promise<Response>;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: MlflowClientOptions) {
    const { baseUrl, username, password } = splitCredentials(options.trackingUri);
    this.baseUrl = baseUrl;
    const user = options.username ?? username;
    const secret = options.password ?? password;
    if (user !== undefined) this.authorization = `Basic ${Buffer.from(`${user}:${secret ?? ""}`).toString("base64")}`;
    else if (options.token) this.authorization = `Bearer ${options.token}`;
    this.retry = { ...defaultRetryPolicy, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? httpFetch;
    this.sleep = options.sleep ?? sleepFor;
  }

  // ---------- experiments ----------

  /** The experiment, or undefined when none has that name. */
  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const body = await this.call<{ experiment: Experiment }>("GET", "experiments/get-by-name", { experiment_name: name });
      return body.experiment;
    } catch (err) {
      if (isErrorCode(err, "RESOURCE_DOES_NOT_EXIST")) return undefined;
      throw err;
    }
  }

  async createExperiment(name: string): Promise<string> {
    const body = await this.call<{ experiment_id: string }>("POST", "experiments/create", { name });
    return body.experiment_id;
  }

  /** Finds the experiment by name or creates it; returns its id. */
  async ensureExperiment(name: string): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return existing.experiment_id;
    try {
      return await this.createExperiment(name);
    } catch (err) {
      // Another process created it between our two calls.
      if (!isErrorCode(err, "RESOURCE_ALREADY_EXISTS")) throw err;
      const created = await this.getExperimentByName(name);
      if (!created) throw err;
      return created.experiment_id;
    }
  }

  // ---------- runs ----------

  async searchRuns(request: SearchRunsRequest): Promise<SearchRunsPage> {
    const body = await this.call<{ runs?: Run[]; next_page_token?: string }>("POST", "runs/search", {
      experiment_ids: request.experimentIds,
      filter: request.filter,
      order_by: request.orderBy,
      max_results: request.maxResults,
      page_token: request.pageToken,
      run_view_type: "ACTIVE_ONLY",
    });
    return { runs: body.runs ?? [], nextPageToken: body.next_page_token || undefined };
  }

  async createRun(args: { experimentId: string; runName?: string; startTime?: number; tags?: readonly KeyValue[] }): Promise<RunInfo> {
    const body = await this.call<{ run: Run }>("POST", "runs/create", {
      experiment_id: args.experimentId,
      run_name: args.runName,
      start_time: args.startTime ?? Date.now(),
      tags: args.tags ?? [],
    });
    return body.run.info;
  }

  /** MLflow accepts up to 1000 metrics, 100 params and 100 tags per call. */
  async logBatch(runId: string, batch: { metrics?: readonly MetricInput[]; params?: readonly KeyValue[]; tags?: readonly KeyValue[] }): Promise<void> {
    await this.call("POST", "runs/log-batch", { run_id: runId, metrics: batch.metrics ?? [], params: batch.params ?? [], tags: batch.tags ?? [] });
  }

  async updateRun(runId: string, status: RunStatus, endTime = Date.now()): Promise<void> {
    await this.call("POST", "runs/update", { run_id: runId, status, end_time: endTime });
  }

  async getRun(runId: string): Promise<Run> {
    const body = await this.call<{ run: Run }>("GET", "runs/get", { run_id: runId });
    return body.run;
  }

  // ---------- model registry ----------

  /** Creates the registered model; `"exists"` when it already did (not an error). */
  async createRegisteredModel(name: string): Promise<"created" | "exists"> {
    try {
      await this.call<{ registered_model: RegisteredModel }>("POST", "registered-models/create", { name });
      return "created";
    } catch (err) {
      if (isErrorCode(err, "RESOURCE_ALREADY_EXISTS")) return "exists";
      throw err;
    }
  }

  async createModelVersion(args: { name: string; source: string; runId: string; description?: string }): Promise<ModelVersion> {
    const body = await this.call<{ model_version: ModelVersion }>("POST", "model-versions/create", {
      name: args.name,
      source: args.source,
      run_id: args.runId,
      description: args.description,
    });
    return body.model_version;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const body = await this.call<{ model_version: ModelVersion }>("GET", "model-versions/get", { name, version });
    return body.model_version;
  }

  /** Versions matching an MLflow filter such as `name='m' and run_id='abc'`. */
  async searchModelVersions(filter: string, maxResults = 100): Promise<ModelVersion[]> {
    const body = await this.call<{ model_versions?: ModelVersion[] }>("GET", "model-versions/search", { filter, max_results: maxResults });
    return body.model_versions ?? [];
  }

  async getLatestVersions(name: string): Promise<ModelVersion[]> {
    const body = await this.call<{ model_versions?: ModelVersion[] }>("POST", "registered-models/get-latest-versions", { name });
    return body.model_versions ?? [];
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call("POST", "registered-models/alias", { name, alias, version });
  }

  /** The version the alias points at, or undefined when the model or the alias does not exist. */
  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion | undefined> {
    try {
      const body = await this.call<{ model_version: ModelVersion }>("GET", "registered-models/alias", { name, alias });
      return body.model_version;
    } catch (err) {
      // MLflow reports a missing alias as INVALID_PARAMETER_VALUE and a missing model as RESOURCE_DOES_NOT_EXIST.
      if (isErrorCode(err, "RESOURCE_DOES_NOT_EXIST") || (isErrorCode(err, "INVALID_PARAMETER_VALUE") && /alias .* not found/i.test(err.detail))) return undefined;
      throw err;
    }
  }

  // ---------- proxied artifacts (mlflow-artifacts:/) ----------

  /** The files directly under `path` of the proxied artifact store (empty when there is none). */
  async listArtifacts(path: string): Promise<{ path: string; is_dir?: boolean; file_size?: number }[]> {
    const url = new URL(`${this.baseUrl}/api/2.0/mlflow-artifacts/artifacts`);
    url.searchParams.set("path", path);
    const answer = (await this.send("GET", url, `artifacts ${path}`)) as { files?: { path: string; is_dir?: boolean; file_size?: number }[] };
    return answer.files ?? [];
  }

  /** Uploads one file to `mlflow-artifacts:/<path>` (the server writes it to its artifact store). */
  async uploadArtifact(path: string, content: Uint8Array): Promise<void> {
    const url = new URL(`${this.baseUrl}/api/2.0/mlflow-artifacts/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`);
    await this.send("PUT", url, `artifacts ${path}`, { body: content, contentType: "application/octet-stream" });
  }

  // ---------- transport ----------

  /** One REST call with bounded retries on connection errors, timeouts, 429 and 5xx. */
  async call<T = unknown>(method: "GET" | "POST" | "PATCH", endpoint: string, payload: Record<string, unknown>): Promise<T> {
    const url = new URL(`${this.baseUrl}/api/2.0/mlflow/${endpoint}`);
    if (method === "GET") for (const [key, value] of Object.entries(payload as Query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const body = method !== "GET" ? { body: JSON.stringify(payload), contentType: "application/json" } : undefined;
    return (await this.send(method, url, endpoint, body)) as T;
  }

  private async send(
    method: "GET" | "POST" | "PATCH" | "PUT",
    url: URL,
    endpoint: string,
    content?: { readonly body: string | Uint8Array; readonly contentType: string },
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (content) headers["content-type"] = content.contentType;
    if (this.authorization) headers.authorization = this.authorization;
    const body = content?.body;

    let lastReason = "";
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      if (attempt > 1) await this.sleep(backoffDelay(this.retry, attempt - 1));
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        lastReason = describeFetchError(err);
        continue;
      }
      const text = await response.text();
      if (response.ok) return text ? parseMlflowJson(text) : {};
      const { errorCode, message } = parseError(text, response.status);
      if (response.status >= 500 || response.status === 429) {
        lastReason = `${errorCode}: ${message} (HTTP ${response.status})`;
        continue;
      }
      throw new MlflowApiError(endpoint, response.status, errorCode, message);
    }
    throw new MlflowUnreachableError(endpoint, this.baseUrl, this.retry.attempts, lastReason);
  }
}

/** The environment variables MLflow's own clients read, so one setup serves both. */
export function mlflowClientFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<MlflowClientOptions> = {}): MlflowClient {
  const trackingUri = overrides.trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (!trackingUri || !/^https?:\/\//.test(trackingUri)) {
    throw new Error(`MLFLOW_TRACKING_URI: expected an http(s):// tracking server URL, got ${trackingUri ? JSON.stringify(splitCredentials(trackingUri).baseUrl) : "nothing"}`);
  }
  return new MlflowClient({
    username: env.MLFLOW_TRACKING_USERNAME || undefined,
    password: env.MLFLOW_TRACKING_PASSWORD || undefined,
    token: env.MLFLOW_TRACKING_TOKEN || undefined,
    ...overrides,
    trackingUri,
  });
}

export function isErrorCode(err: unknown, code: string): err is MlflowApiError {
  return err instanceof MlflowApiError && err.errorCode === code;
}

export function backoffDelay(policy: RetryPolicy, retryNumber: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (retryNumber - 1));
}

/** fetch refuses URLs with credentials, and they must never reach a log: split them off. */
export function splitCredentials(uri: string): { baseUrl: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return { baseUrl: uri.replace(/\/+$/, "") };
  }
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  parsed.username = "";
  parsed.password = "";
  return { baseUrl: parsed.toString().replace(/\/+$/, ""), username, password };
}

/** Python's json module writes NaN and +-Infinity, which JSON.parse rejects; they become null. */
export function parseMlflowJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const repaired = text.replace(/([:[,]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g, "$1null");
    if (repaired === text) throw err;
    return JSON.parse(repaired);
  }
}

function parseError(text: string, status: number): { errorCode: string; message: string } {
  try {
    const body = JSON.parse(text) as { error_code?: unknown; message?: unknown; detail?: unknown };
    if (typeof body.error_code === "string") return { errorCode: body.error_code, message: String(body.message ?? "") };
    if (typeof body.detail === "string") return { errorCode: `HTTP_${status}`, message: body.detail };
  } catch {
    // Not JSON: a proxy's or the security middleware's plain-text answer.
  }
  return { errorCode: `HTTP_${status}`, message: text.trim().slice(0, 300) || "(empty response)" };
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: { name?: string; code?: string; message?: string } }).cause;
  // fetch throws TimeoutError; node:http an AbortError caused by the signal's TimeoutError.
  if (err.name === "TimeoutError" || cause?.name === "TimeoutError") return "request timed out";
  // node:http puts the socket's code on the error itself, fetch on its cause.
  const code = (err as Error & { code?: string }).code;
  if (code && code !== "ABORT_ERR") return err.message.startsWith(code) ? err.message : `${code} ${err.message}`;
  return cause?.code ? `${cause.code} ${cause.message ?? ""}`.trim() : err.message;
}
