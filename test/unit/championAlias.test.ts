import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsConfigSchema } from "../../config";
import type { AliasState } from "../../components/registry/championAlias";
import { type FakeMlflow, startFakeMlflow } from "../support/fakeMlflow";

/**
 * The ChampionAlias provider as Pulumi runs it: serialized by value under tsx (as the language host
 * loads index.ts), then loaded by a plain Node process without tsx (as Pulumi's dynamic provider
 * process does) and asked to create the alias against an HTTP server that speaks MLflow's API.
 * Proves the selection code travels with the provider: no computed require of TypeScript at run time.
 */

const root = path.resolve(__dirname, "../..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-alias-"));
const providerFile = path.join(dir, "provider.js");
const credentials = { username: "admin", password: "alias-test-password-1234" };
let mlflow: FakeMlflow;
let serializedText = "";

beforeAll(async () => {
  const serialized = spawnSync(
    process.execPath,
    ["--import", "tsx", "test/support/serializeDynamicProvider.ts", "components/registry/championAlias.ts", "championAliasProvider", providerFile],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  expect(serialized.status, serialized.stderr).toBe(0);
  serializedText = fs.readFileSync(providerFile, "utf8");
  mlflow = await startFakeMlflow({
    experimentName: "alias-exp",
    credentials,
    runs: [
      { runId: "run-best", metrics: { cv_accuracy_mean: 0.91 }, tags: { "mlops.model_source": "models:/m-best" } },
      { runId: "run-second", metrics: { cv_accuracy_mean: 0.85 } },
    ],
  });
}, 120_000);

afterAll(async () => {
  await mlflow?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads the serialized module in a plain Node process (no tsx) and calls one provider method. */
async function runProvider(method: "create", inputs: AliasState): Promise<{ id: string; outs: AliasState }> {
  const runner = `require(process.argv[1]).handler()[process.argv[2]](JSON.parse(process.argv[3])).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(1); })`;
  const { stdout } = await promisify(execFile)(process.execPath, ["-e", runner, providerFile, method, JSON.stringify(inputs)], { cwd: dir, timeout: 60_000 });
  return JSON.parse(stdout) as { id: string; outs: AliasState };
}

describe("ChampionAlias provider, serialized as Pulumi does and run in a plain Node process", () => {
  it("carries the selection code with it: no tsx, no path into programs/ or the project folder", () => {
    expect(serializedText).toContain("exports.handler");
    expect(serializedText).not.toMatch(/tsx|programs\/select|\.ts["'`]/);
    expect(serializedText).not.toContain(root);
  });

  it("selects the best run, registers it and points the alias at the new version", async () => {
    const metrics = metricsConfigSchema.parse({ orderBy: { metric: "cv_accuracy_mean" }, registeredModel: { name: "alias-model" } });
    const inputs: AliasState = { trackingUri: mlflow.url, experimentName: "alias-exp", studyId: "study-1", metrics, credentials };
    const result = await runProvider("create", inputs);
    expect(result.id).toBe("alias-model@champion");
    expect(result.outs).toMatchObject({ runId: "run-best", modelVersion: "1" });
    expect(mlflow.versions).toEqual([{ version: "1", run_id: "run-best", source: "models:/m-best" }]);
    expect(mlflow.aliases.get("champion")).toBe("1");
    expect(mlflow.requests).toContain("POST runs/search");
  }, 60_000);
});
