import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MlflowClient } from "../../components/registry/mlflowClient";
import { psql, runPython, s3Environment, serviceScript, servicesUnavailableReason, startTrackingServices, type TrackingServices } from "../../scripts/services/testServices";
import { skipOrFailInCI } from "../support/skips";

// Real PostgreSQL, SeaweedFS (S3) and MLflow on loopback, checked through each server's own interface.
const skipped = skipOrFailInCI("tracking server tests", servicesUnavailableReason());

const servicesDir = process.env.MLOPS_SERVICES_DIR ?? path.join(__dirname, "..", "..", ".pipeline", "services");
const marker = `artifact-${Date.now()}-${process.pid}`;

/** Logs one run with a param, a metric and a file artifact using MLflow's Python client. */
const logRunWithArtifact = `
import json, os, tempfile
import mlflow
mlflow.set_experiment("tracking-servers-test")
with mlflow.start_run() as run:
    mlflow.log_param("marker", os.environ["MARKER"])
    mlflow.log_metric("answer", 42.0)
    path = os.path.join(tempfile.mkdtemp(), "note.txt")
    with open(path, "w") as f:
        f.write(os.environ["MARKER"])
    mlflow.log_artifact(path, artifact_path="notes")
print(json.dumps({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri}))
`;

/** Lists the bucket with boto3 and reads the object back: the S3 server's own view. */
const readObjects = `
import json, os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow", Prefix=os.environ["PREFIX"]).get("Contents", [])]
bodies = {k: s3.get_object(Bucket="mlflow", Key=k)["Body"].read().decode() for k in keys}
print(json.dumps(bodies))
`;

describe.skipIf(skipped)("tracking servers (real PostgreSQL, SeaweedFS and MLflow)", () => {
  let services: TrackingServices;
  let logged: { run_id: string; artifact_uri: string };

  beforeAll(() => {
    services = startTrackingServices();
    // Only the tracking URI: no S3 endpoint or keys, so the artifact can only travel through MLflow's proxy.
    const output = runPython(services.python, logRunWithArtifact, { MLFLOW_TRACKING_URI: services.trackingUri, MARKER: marker });
    logged = JSON.parse(output.trim().split("\n").at(-1) ?? "{}");
  });

  it("logs through the proxied artifact API, so the client needs no S3 credentials", () => {
    expect(logged.run_id).toMatch(/^[0-9a-f]{32}$/);
    expect(logged.artifact_uri).toMatch(/^mlflow-artifacts:\//);
  });

  it("stores the run as rows in PostgreSQL", () => {
    expect(psql(`SELECT status FROM runs WHERE run_uuid = '${logged.run_id}'`)).toBe("FINISHED");
    expect(psql(`SELECT value FROM params WHERE run_uuid = '${logged.run_id}' AND key = 'marker'`)).toBe(marker);
    expect(Number(psql(`SELECT value FROM latest_metrics WHERE run_uuid = '${logged.run_id}' AND key = 'answer'`))).toBe(42);
  });

  it("stores the artifact as an object in the S3 bucket", () => {
    const experimentId = psql(`SELECT experiment_id FROM runs WHERE run_uuid = '${logged.run_id}'`);
    const prefix = `artifacts/${experimentId}/${logged.run_id}/`;
    const bodies = JSON.parse(runPython(services.python, readObjects, { ...s3Environment(), PREFIX: prefix }));
    expect(bodies).toEqual({ [`${prefix}artifacts/notes/note.txt`]: marker });
  });

  it("refuses S3 requests without credentials", async () => {
    const anonymous = await fetch(`${services.s3Endpoint}/mlflow/`);
    expect(anonymous.status).toBe(403);
    const upload = await fetch(`${services.s3Endpoint}/mlflow/anonymous.txt`, { method: "PUT", body: "x" });
    expect(upload.status).toBe(403);
  });

  it("keeps generated secrets in 0600 files and out of every command line and log", () => {
    const secretFiles = [
      path.join(servicesDir, "postgres", "mlflow-password"),
      path.join(servicesDir, "postgres", "superuser-password"),
      path.join(servicesDir, "seaweedfs", "s3.json"),
    ];
    for (const file of secretFiles) expect((fs.statSync(file).mode & 0o777).toString(8), file).toBe("600");
    const secrets = [
      fs.readFileSync(secretFiles[0] as string, "utf8").trim(),
      fs.readFileSync(secretFiles[1] as string, "utf8").trim(),
      s3Environment().AWS_SECRET_ACCESS_KEY ?? "",
    ];
    expect(secrets.every((s) => s.length >= 20)).toBe(true);
    const commandLines = fs
      .readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map((pid) => {
        try {
          return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return ""; // the process ended meanwhile
        }
      });
    const logs = [path.join(servicesDir, "mlflow", "server.log"), path.join(servicesDir, "seaweedfs", "weed.log")].map((file) => fs.readFileSync(file, "utf8"));
    for (const secret of secrets) {
      expect(commandLines.some((line) => line.includes(secret))).toBe(false);
      expect(logs.some((log) => log.includes(secret))).toBe(false);
    }
  });

  it("answers again after PostgreSQL restarts (the client retries while MLflow reconnects)", async () => {
    serviceScript("postgres", ["restart"]);
    const client = new MlflowClient({ trackingUri: services.trackingUri });
    const run = await client.getRun(logged.run_id);
    expect(run.info.status).toBe("FINISHED");
  });

  it("start is idempotent: a second start reuses the running servers", () => {
    const before = fs.readFileSync(path.join(servicesDir, "mlflow", "server.pid"), "utf8");
    const uri = startTrackingServices().trackingUri;
    expect(uri).toBe(services.trackingUri);
    expect(fs.readFileSync(path.join(servicesDir, "mlflow", "server.pid"), "utf8")).toBe(before);
    expect(execFileSync("bash", [path.join(__dirname, "..", "..", "scripts", "services", "seaweedfs.sh"), "status"], { encoding: "utf8" })).toMatch(/running/);
  });
});
