import * as path from "node:path";
import { psql, runPython, s3Environment, serviceScript } from "../../scripts/services/testServices";
import { repoRoot } from "./pipelineStack";

/**
 * The production stores of a test stack: the real PostgreSQL (scripts/services/postgres.sh, one
 * private database per stack) and the real SeaweedFS S3 server (bucket `mlflow`, one prefix per
 * stack), read back through their own interfaces: SQL and S3 ListObjectsV2.
 */

export const bucket = "mlflow";
const python = path.join(process.env.MLOPS_PYTHON_VENV ?? path.join(repoRoot, ".venv"), "bin", "python");

export interface Stores {
  readonly postgresPort: number;
  readonly s3Endpoint: string;
}

/** Starts (or reuses) PostgreSQL and SeaweedFS, and gives the stack an empty database of its own. */
export function startStores(database: string): Stores {
  serviceScript("postgres", ["start"]);
  serviceScript("seaweedfs", ["start"]);
  serviceScript("postgres", ["fresh-database", database]);
  const url = new URL(serviceScript("postgres", ["url"]).trim());
  return { postgresPort: Number(url.port), s3Endpoint: serviceScript("seaweedfs", ["endpoint"]).trim() };
}

/** What the driver needs in its environment for external stores. Secrets: never print them. */
export function storeSecrets(): Record<string, string> {
  const s3 = s3Environment();
  return {
    MLOPS_DATABASE_PASSWORD: decodeURIComponent(new URL(serviceScript("postgres", ["url"]).trim()).password),
    MLOPS_S3_ACCESS_KEY_ID: s3.AWS_ACCESS_KEY_ID ?? "",
    MLOPS_S3_SECRET_ACCESS_KEY: s3.AWS_SECRET_ACCESS_KEY ?? "",
  };
}

/** The `tracking` section of a stack that keeps runs in PostgreSQL and artifacts in S3. */
export function productionTracking(stores: Stores, opts: { port: number; database: string; prefix: string }) {
  return {
    port: opts.port,
    database: { kind: "external", host: "127.0.0.1", port: stores.postgresPort, database: opts.database, user: "mlflow", sslMode: "disable" },
    objectStore: { kind: "s3", bucket, prefix: opts.prefix, endpoint: stores.s3Endpoint },
  };
}

export interface TrialRow {
  readonly runId: string;
  readonly status: string;
  readonly trialKey: string;
  readonly worker: number;
}

/** The study's active (not deleted) trial runs, straight from MLflow's `runs` and `tags` tables. */
export function trialRows(database: string, studyId: string): TrialRow[] {
  const quoted = studyId.replace(/'/g, "''");
  const sql = `SELECT r.run_uuid, r.status, k.value, w.value FROM runs r
    JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = 'mlops.study_id' AND s.value = '${quoted}'
    JOIN tags role ON role.run_uuid = r.run_uuid AND role.key = 'mlops.role' AND role.value = 'trial'
    LEFT JOIN tags k ON k.run_uuid = r.run_uuid AND k.key = 'mlops.trial_key'
    LEFT JOIN tags w ON w.run_uuid = r.run_uuid AND w.key = 'mlops.worker_index'
    WHERE r.lifecycle_stage = 'active' ORDER BY r.start_time`;
  return psql(sql, database)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [runId = "", status = "", trialKey = "", worker = "-1"] = line.split("|");
      return { runId, status, trialKey, worker: Number(worker) };
    });
}

/** Every object key under `prefix` in the bucket, from the S3 server's ListObjectsV2 (boto3). */
export function s3Keys(prefix: string): string[] {
  const code = `
import json, os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
pages = s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"], Prefix=os.environ["PREFIX"])
print(json.dumps([o["Key"] for page in pages for o in page.get("Contents", [])]))
`;
  return JSON.parse(runPython(python, code, { ...s3Environment(), BUCKET: bucket, PREFIX: prefix }).trim()) as string[];
}

/** Deletes every object under `prefix`, so a rerun of the test starts from an empty prefix. */
export function deleteS3Prefix(prefix: string): number {
  const code = `
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
deleted = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"], Prefix=os.environ["PREFIX"]):
    for obj in page.get("Contents", []):
        s3.delete_object(Bucket=os.environ["BUCKET"], Key=obj["Key"])
        deleted += 1
print(deleted)
`;
  return Number(runPython(python, code, { ...s3Environment(), BUCKET: bucket, PREFIX: prefix }).trim());
}
