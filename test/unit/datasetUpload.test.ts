import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MlflowClient } from "../../components/registry/mlflowClient";
import { localDataFile, planStudy } from "../../components/shared";
import { parseStackConfig } from "../../config";
import { datasetArtifactPath, publishDataset } from "../../driver/datasetUpload";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dataset-upload-"));
const file = path.join(dir, "train.csv");
fs.writeFileSync(file, "a,b,y\n1,2,0\n3,4,1\n");
const sha256 = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** MLflow's REST API as far as the upload uses it: one experiment, and the proxied artifact store as a map. */
function fakeServer() {
  const stored = new Map<string, Buffer>();
  const puts: string[] = [];
  const fetch = async (input: string | URL, init: { method?: string; body?: string | Uint8Array }) => {
    const url = new URL(input);
    const json = (value: unknown) => new Response(JSON.stringify(value), { status: 200 });
    if (url.pathname === "/api/2.0/mlflow/experiments/get-by-name") return json({ experiment: { experiment_id: "7", name: url.searchParams.get("experiment_name") } });
    if (url.pathname === "/api/2.0/mlflow-artifacts/artifacts" && init.method === "GET") {
      const prefix = `${url.searchParams.get("path")}/`;
      const files = [...stored].filter(([p]) => p.startsWith(prefix)).map(([p, content]) => ({ path: p.slice(prefix.length), is_dir: false, file_size: content.length }));
      return json(files.length === 0 ? {} : { files });
    }
    const artifact = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/.exec(url.pathname);
    if (artifact?.[1] && init.method === "PUT") {
      const key = decodeURIComponent(artifact[1]);
      puts.push(key);
      stored.set(key, Buffer.from(init.body ?? ""));
      return json({});
    }
    return new Response(JSON.stringify({ error_code: "ENDPOINT_NOT_FOUND", message: url.pathname }), { status: 404 });
  };
  return { client: new MlflowClient({ trackingUri: "http://127.0.0.1:1", fetch }), stored, puts };
}

describe("a local dataset file for docker and kubernetes workers (driver/datasetUpload.ts)", () => {
  it("is a file only this machine can read; generated data, s3:// and container paths are not", () => {
    expect(localDataFile(file, "/elsewhere")).toBe(file);
    expect(localDataFile(path.basename(file), dir)).toBe(file);
    expect(localDataFile("generated", dir)).toBeUndefined();
    expect(localDataFile("s3://bucket/train.csv", dir)).toBeUndefined();
    expect(localDataFile("/data/only-in-the-container.csv", dir)).toBeUndefined();
  });

  it("is uploaded once, by content, under the study's experiment (the path MLflow's auth checks)", async () => {
    const server = fakeServer();
    const lines: string[] = [];
    const uri = await publishDataset(server.client, "mlops-pipeline", file, (line) => lines.push(line));
    expect(datasetArtifactPath("7", sha256, file)).toBe(`7/datasets/${sha256}/train.csv`);
    expect(uri).toBe(`mlflow-artifacts:/7/datasets/${sha256}/train.csv`);
    expect(server.puts).toEqual([`7/datasets/${sha256}/train.csv`]);
    expect(server.stored.get(`7/datasets/${sha256}/train.csv`)).toEqual(fs.readFileSync(file));
    expect(await publishDataset(server.client, "mlops-pipeline", file, (line) => lines.push(line))).toBe(uri);
    expect(server.puts).toHaveLength(1);
    expect(lines[0]).toMatch(/^uploaded dataset train\.csv \(18 bytes, sha256 [0-9a-f]{12}\) to mlflow-artifacts:/);
    expect(lines[1]).toMatch(/is already at mlflow-artifacts:/);
  });

  it("goes into the workers' spec while the study id stays the one of the file's content", () => {
    const training = parseStackConfig({ "mlops:platform": "docker", "mlops:training": { dataset: { source: file, target: "y" } } }, "t.yaml").training;
    const uri = `mlflow-artifacts:/7/datasets/${sha256}/train.csv`;
    const plain = planStudy("dev", training);
    const uploaded = planStudy("dev", training, { datasetSource: uri });
    expect(uploaded.study.studyId).toBe(plain.study.studyId);
    expect(plain.study.dataset.source).toBe(file);
    expect(uploaded.shards.map((s) => s.dataset.source)).toEqual(uploaded.shards.map(() => uri));
  });
});
