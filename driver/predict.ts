/**
 * One input in, one prediction out: `npm run predict -- --stack <name> [--input '<json>']`.
 * Without --input it asks the serving API for the champion's own input example (`GET /example`).
 */
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { httpFetch } from "../components/shared/httpFetch";
import { runMain } from "./cli";
import type { PhaseRecord } from "./lastRun";
import { projectName } from "./phaseStack";
import { pulumiWorkspace } from "./pulumiEnv";
import { phaseStackName } from "../programs/context";

export interface Prediction {
  readonly status: number;
  readonly predictions: unknown[];
  readonly replica: string;
  readonly seconds: number;
}

async function exampleInput(endpoint: string): Promise<unknown> {
  const res = await httpFetch(`${endpoint}/example`, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${endpoint}/example answered HTTP ${res.status}: pass an input with --input '<json>'`);
  return res.json();
}

export async function predictOne(endpoint: string, input?: unknown): Promise<Prediction> {
  const body = input ?? (await exampleInput(endpoint));
  const started = Date.now();
  const res = await httpFetch(`${endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${endpoint}/invocations answered HTTP ${res.status}: ${text.slice(0, 500)}`);
  const parsed = JSON.parse(text) as { predictions?: unknown[] };
  if (!Array.isArray(parsed.predictions) || parsed.predictions.length === 0) throw new Error(`POST ${endpoint}/invocations answered without predictions: ${text.slice(0, 200)}`);
  return { status: res.status, predictions: parsed.predictions, replica: res.headers.get("x-replica-id") ?? "?", seconds: (Date.now() - started) / 1000 };
}

/** The pipeline's last step: one prediction through the load balancer proves the deployment serves. */
export async function smokePrediction(endpoint: string, records: PhaseRecord[]): Promise<void> {
  const started = Date.now();
  const result = await predictOne(endpoint);
  console.log(`[smoke] POST ${endpoint}/invocations -> HTTP ${result.status}, prediction ${JSON.stringify(result.predictions[0])} from ${result.replica} in ${result.seconds.toFixed(3)} s`);
  records.push({ name: "smoke", seconds: (Date.now() - started) / 1000, resourceChanges: 0, detail: { prediction: result.predictions[0], replica: result.replica } });
}

async function main(argv: readonly string[]): Promise<void> {
  let stack = process.env.STACK || "local";
  let input: unknown;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--stack" && value) stack = value;
    else if (flag === "--input" && value) {
      try {
        input = JSON.parse(value);
      } catch {
        throw new Error(`--input expects JSON such as '{"dataframe_records": [{"f0": 0.1, ...}]}', got ${value.slice(0, 80)}`);
      }
    } else throw new Error(`unknown argument ${flag}\nusage: npm run predict -- [--stack <name>] [--input '<json>']`);
  }
  const projectDir = path.resolve(__dirname, "..");
  const workspace = await pulumiWorkspace(projectDir);
  const stackName = phaseStackName(stack, "serving");
  const selected = await LocalWorkspace.selectStack({ stackName, projectName, program: async () => ({}) }, workspace).catch(() => {
    throw new Error(`stack ${stackName} does not exist: deploy first with \`make pipeline STACK=${stack}\``);
  });
  const endpoint = (await selected.outputs()).endpoint?.value as string | undefined;
  if (!endpoint) throw new Error(`stack ${stackName} has no endpoint: deploy first with \`make pipeline STACK=${stack}\``);
  const result = await predictOne(endpoint, input);
  console.log(JSON.stringify({ endpoint, status: result.status, prediction: result.predictions[0], replica: result.replica, seconds: result.seconds }));
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
