/**
 * One input in, one prediction out through the serving load balancer. Without an input it asks the serving
 * API for the champion's own input example (`GET /example`).
 */
import * as path from "node:path";
import { httpFetch } from "../components/shared/httpFetch";
import { loadStackConfig } from "../config";
import type { PhaseRecord } from "./lastRun";
import { phaseOutputs } from "./phaseStack";
import { need, phaseStackName, stackPhaseNamed } from "./phases";
import { pulumiWorkspace } from "./pulumiEnv";

export interface Prediction {
  readonly status: number;
  readonly predictions: unknown[];
  readonly replica: string;
  readonly seconds: number;
}

/** The API key header when `serving.auth` is on; the key is never printed. */
const authHeaders = (apiKey?: string): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

async function exampleInput(endpoint: string, apiKey?: string, connectTo?: string): Promise<unknown> {
  const res = await httpFetch(`${endpoint}/example`, { headers: authHeaders(apiKey), signal: AbortSignal.timeout(30_000), connectTo });
  if (!res.ok) throw new Error(`GET ${endpoint}/example answered HTTP ${res.status}: pass an input with --input '<json>'`);
  return res.json();
}

/** `connectTo`: the Ingress controller's host:port when the endpoint's host does not resolve here (serving.ingress.address). */
export async function predictOne(endpoint: string, input?: unknown, apiKey?: string, connectTo?: string): Promise<Prediction> {
  const body = input ?? (await exampleInput(endpoint, apiKey, connectTo));
  const started = Date.now();
  const res = await httpFetch(`${endpoint}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(apiKey) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
    connectTo,
  });
  const text = await res.text();
  if (res.status === 401)
    throw new Error(
      `POST ${endpoint}/invocations answered HTTP 401: serving.auth is on and the API key was ${apiKey ? "refused" : "not given"} (the deploy phase's secret output servingApiKey)`,
    );
  if (!res.ok) throw new Error(`POST ${endpoint}/invocations answered HTTP ${res.status}: ${text.slice(0, 500)}`);
  const parsed = JSON.parse(text) as { predictions?: unknown[] };
  if (!Array.isArray(parsed.predictions) || parsed.predictions.length === 0) throw new Error(`POST ${endpoint}/invocations answered without predictions: ${text.slice(0, 200)}`);
  return { status: res.status, predictions: parsed.predictions, replica: res.headers.get("x-replica-id") ?? "?", seconds: (Date.now() - started) / 1000 };
}

/** The pipeline's last step: one prediction through the load balancer proves the deployment serves. */
export async function smokePrediction(endpoint: string, records: PhaseRecord[], apiKey?: string, connectTo?: string): Promise<void> {
  const started = Date.now();
  const result = await predictOne(endpoint, undefined, apiKey, connectTo);
  console.log(
    `[smoke] POST ${endpoint}/invocations -> HTTP ${result.status}, prediction ${JSON.stringify(result.predictions[0])} from ${result.replica} in ${result.seconds.toFixed(3)} s`,
  );
  records.push({ name: "smoke", seconds: (Date.now() - started) / 1000, resourceChanges: 0, detail: { prediction: result.predictions[0], replica: result.replica } });
}

/** The endpoint the deploy phase recorded for `stack`, then one prediction; prints one JSON line. */
export async function predictOnStack(stack: string, input?: unknown): Promise<void> {
  const workspace = await pulumiWorkspace(path.resolve(__dirname, ".."));
  const stackName = phaseStackName(stack, stackPhaseNamed("deploy").stack);
  const outputs = await phaseOutputs({ stack, stackName, workspace });
  const endpoint = need<string>(outputs, "endpoint");
  const apiKey = outputs.servingApiKey?.value;
  const connectTo = loadStackConfig(path.resolve(__dirname, ".."), stack).serving.ingress?.address;
  const result = await predictOne(endpoint, input, typeof apiKey === "string" ? apiKey : undefined, connectTo);
  console.log(JSON.stringify({ endpoint, status: result.status, prediction: result.predictions[0], replica: result.replica, seconds: result.seconds }));
}
