import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  type ContainerSpec,
  dockerLimits,
  resolveEnv,
  servingTopology,
  trackingTopology,
  trainingTopology,
  type TrackingTopologyArgs,
} from "../../components/docker/containerSpecs";
import { loadBalancerEntrypoint, readLoadBalancerTemplate, renderLoadBalancerConfig, upstreamServers, upstreamsPath } from "../../components/docker/loadBalancerConfig";
import { objectStoreFlavor } from "../../components/shared/images";
import { rolePasswordSync } from "../../components/shared/postgresRole";
import { planStudy } from "../../components/shared/study";
import { trainingSchema } from "../../config";

// The pure half of the Docker platform: spec builders, the nginx config, env and limits.
const resources = { cpuRequest: "250m", memoryRequest: "256Mi", cpuLimit: "1500m", memoryLimit: "1Gi" };
const tracking = (over: Partial<TrackingTopologyArgs> = {}): TrackingTopologyArgs => ({
  prefix: "t",
  mlflowImage: "mlops-mlflow:0.1.0",
  port: 5000,
  publishedPort: 15000,
  publishHostIp: "127.0.0.1",
  database: { kind: "inStack", image: "postgres:16.4", database: "mlflow", user: "mlflow", storageSize: "1Gi" },
  objectStore: { kind: "inStack", image: "local/seaweedfs:bookworm-1", bucket: "artifacts", storageSize: "1Gi" },
  hasObjectStoreCredentials: true,
  resources,
  ...over,
});
const byRole = (specs: readonly ContainerSpec[], role: string): ContainerSpec => {
  const found = specs.find((s) => s.role === role);
  if (!found) throw new Error(`no ${role} in ${specs.map((s) => s.role).join(", ")}`);
  return found;
};

describe("tracking topology", () => {
  it("makes PostgreSQL healthy only once the role takes the container's password, never naming it", () => {
    const postgres = byRole(trackingTopology(tracking()).containers, "postgres");
    expect(postgres.secretEnv).toEqual({ POSTGRES_PASSWORD: "databasePassword" });
    const [kind, probe = ""] = postgres.healthcheck?.test ?? [];
    expect(kind).toBe("CMD-SHELL");
    expect(probe).toContain(rolePasswordSync());
    expect(probe.indexOf("pg_isready")).toBeLessThan(probe.indexOf("ALTER ROLE"));
    // The password reaches psql on stdin, quotes doubled: never in an argv (`-v`, `-c`) nor a file.
    expect(rolePasswordSync()).toMatch(/printf '%s' "\$POSTGRES_PASSWORD" \| sed "s\/'\/''\/g"/);
    expect(rolePasswordSync()).not.toMatch(/-v \w+="\$POSTGRES_PASSWORD"|-c /);
  });

  it("starts PostgreSQL and the object store before the bucket job and MLflow, with secrets only by name", () => {
    const t = trackingTopology(tracking());
    expect(t.containers.map((c) => c.role)).toEqual(["postgres", "objectstore", "bucket-init", "mlflow"]);
    expect(t.groups.map((g) => g.map((c) => c.role))).toEqual([["postgres", "objectstore"], ["bucket-init"], ["mlflow"]]);
    expect(t.volumes.map((v) => v.name)).toEqual(["t-postgres-data", "t-objectstore-data"]);
    expect(t).toMatchObject({ jobTrackingUri: "http://mlflow:5000", driverTrackingUri: "http://127.0.0.1:15000", artifactLocation: "s3://artifacts" });
    expect(JSON.stringify(t)).not.toMatch(/PASSWORD=|SECRET_ACCESS_KEY=/);
    const mlflow = byRole(t.containers, "mlflow");
    expect(mlflow.secretEnv).toEqual({ PGPASSWORD: "databasePassword", AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" });
    expect(mlflow.command).toContain("--artifacts-destination=s3://artifacts");
    expect(mlflow.command.find((a) => a.startsWith("--allowed-hosts="))).toBe("--allowed-hosts=localhost,localhost:*,127.0.0.1,127.0.0.1:*,mlflow,mlflow:*");
    expect(mlflow).toMatchObject({ memoryMb: 1024, cpus: 1.5, restart: "unless-stopped", runToCompletion: false });
    expect(byRole(t.containers, "bucket-init")).toMatchObject({
      runToCompletion: true,
      restart: "no",
      env: { BUCKET: "artifacts", MLFLOW_S3_ENDPOINT_URL: "http://objectstore:8333" },
    });
    expect(byRole(t.containers, "objectstore")).toMatchObject({ entrypoint: ["weed"], mounts: [{ volume: "t-objectstore-data", target: "/data" }] });
  });

  it("runs MinIO with its own root credentials and port", () => {
    const t = trackingTopology(tracking({ objectStore: { kind: "inStack", image: "minio/minio:RELEASE.2025-04-22T22-12-26Z", bucket: "mlflow", storageSize: "1Gi" } }));
    expect(byRole(t.containers, "objectstore")).toMatchObject({
      entrypoint: ["minio"],
      command: ["server", "/data", "--address", ":9000"],
      secretEnv: { MINIO_ROOT_USER: "objectStoreAccessKeyId" },
    });
    expect(byRole(t.containers, "mlflow").env.MLFLOW_S3_ENDPOINT_URL).toBe("http://objectstore:9000");
    expect(() => objectStoreFlavor("ceph/daemon:v8")).toThrow(/expected a MinIO or SeaweedFS image/);
  });

  it("uses an external PostgreSQL and S3 without in-stack containers, and ambient S3 credentials when none are given", () => {
    const t = trackingTopology(
      tracking({
        database: {
          kind: "external",
          host: "db.example",
          port: 6432,
          database: "ml",
          user: "ml user",
          passwordSecret: "databasePassword",
          sslMode: "require",
          manage: false,
          adminUser: "postgres",
        },
        objectStore: { kind: "s3", bucket: "team-bucket", prefix: "mlflow", region: "eu-west-1", create: false, accessKeySecret: "a", secretKeySecret: "b" },
        hasObjectStoreCredentials: false,
        authAdminUser: "admin",
      }),
    );
    expect(t.containers.map((c) => c.role)).toEqual(["mlflow"]);
    expect(t.groups).toHaveLength(1);
    expect(t.volumes.map((v) => v.name)).toEqual(["t-mlflow-auth"]);
    const mlflow = byRole(t.containers, "mlflow");
    expect(mlflow.env).toMatchObject({ PGHOST: "db.example", PGPORT: "6432", PGSSLMODE: "require", AWS_DEFAULT_REGION: "eu-west-1" });
    expect(mlflow.env.MLFLOW_S3_ENDPOINT_URL).toBeUndefined();
    // The auth config (admin user and password inside) and the CSRF key are secrets, derived by withAuthSecrets.
    expect(mlflow.secretEnv).toEqual({ PGPASSWORD: "databasePassword", MLFLOW_AUTH_CONFIG: "authConfig", MLFLOW_FLASK_SERVER_SECRET_KEY: "flaskSecretKey" });
    expect(JSON.stringify(mlflow.env)).not.toContain("admin");
    expect(mlflow.command).toContain("--backend-store-uri=postgresql://ml%20user@db.example:6432/ml");
    expect(mlflow.command).toContain("--app-name=basic-auth");
    expect(t.artifactLocation).toBe("s3://team-bucket/mlflow");
  });
});

describe("training and serving topologies", () => {
  const training = trainingSchema.parse({ searchSpace: { n_estimators: { values: [1, 2, 3, 4, 5] } }, workers: 3, retries: 1 });
  const plan = planStudy("dev", training);

  it("gives each shard its own run-to-completion container holding exactly its trials", () => {
    const t = trainingTopology({ prefix: "p", trainerImage: "mlops-trainer:1", trackingUri: "http://mlflow:5000", shards: plan.shards, retries: 1, resources });
    expect(t.containers.map((c) => c.role)).toEqual(["prepare", "trainer-0", "trainer-1", "trainer-2"]);
    expect(t.groups.map((g) => g.length)).toEqual([1, 3]);
    const trials = t.workers.map((w) => (JSON.parse(w.files[0]?.content ?? "{}") as { trials: { index: number }[] }).trials.map((x) => x.index));
    expect(trials).toEqual([[0, 3], [1, 4], [2]]);
    expect(t.prepare.command).toEqual(["python", "/app/trainer.py", "prepare", "--spec", "/etc/mlops/shard-0.json"]);
    expect(t.workers[2]?.command).toEqual(["python", "/app/trainer.py", "run", "--spec", "/etc/mlops/shard-2.json"]);
    expect(t.containers.every((c) => c.runToCompletion && c.restart === "no")).toBe(true);
    expect(() => trainingTopology({ prefix: "p", trainerImage: "i:1", trackingUri: "u", shards: [], retries: 0, resources })).toThrow(/at least one shard/);
  });

  it("retries a failing job inside its container and keeps the final exit code", () => {
    const job = trainingTopology({ prefix: "p", trainerImage: "i:1", trackingUri: "u", shards: plan.shards, retries: 1, resources }).prepare;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "retry-"));
    const counter = path.join(dir, "attempts");
    // Fails on the first attempt, succeeds on the second: the loop must hide the first failure.
    const flaky = ["sh", "-c", `echo x >> ${counter}; [ "$(wc -l < ${counter})" -ge 2 ]`];
    const entry = job.entrypoint ?? [];
    const run = (retries: string, cmd: string[]) => spawnSync(entry[0] ?? "sh", [...entry.slice(1), ...cmd], { env: { ...process.env, MLOPS_RETRIES: retries }, encoding: "utf8" });
    expect(run("1", flaky).status).toBe(0);
    expect(fs.readFileSync(counter, "utf8").trim().split("\n")).toHaveLength(2);
    const failing = run("1", ["sh", "-c", "exit 7"]);
    expect(failing.status).toBe(7);
    expect(failing.stderr).toContain("giving up after 2 attempt(s), exit 7");
    expect(run("0", ["sh", "-c", "exit 5"]).status).toBe(5);
  }, 20_000);

  it("puts every replica behind nginx and publishes only the load balancer", () => {
    const t = servingTopology({
      prefix: "s",
      servingImage: "mlops-serving:1",
      loadBalancerImage: "nginx:1.27.2",
      modelUri: "models:/m@champion",
      trackingUri: "http://mlflow:5000",
      serving: { replicas: 4, port: 9090, loadBalancerPort: 8001, resources },
      publishedPort: 18001,
      publishHostIp: "127.0.0.1",
    });
    expect(t.replicas.map((r) => r.networkAliases[0])).toEqual(["serving-0", "serving-1", "serving-2", "serving-3"]);
    expect(t.replicas.every((r) => r.ports.length === 0 && r.healthcheck !== undefined)).toBe(true);
    expect(t.loadBalancer.ports).toEqual([{ internal: 8001, external: 18001, hostIp: "127.0.0.1" }]);
    const config = t.loadBalancer.files[0]?.content ?? "";
    expect(config).toContain(`include ${upstreamsPath};`);
    const script = t.loadBalancer.entrypoint?.[2] ?? "";
    expect(script.match(/server serving-\d:9090/g)).toHaveLength(4);
    expect(script).toContain("for target in serving-0:9090 serving-1:9090 serving-2:9090 serving-3:9090;");
    expect(t.endpoint).toBe("http://127.0.0.1:18001");
  });

  it("gives replicas SERVING_WORKERS and, with serving.auth, the API key as a secret env (never a plain value)", () => {
    const base = { prefix: "s", servingImage: "i:1", loadBalancerImage: "nginx:1", modelUri: "models:/m@champion", trackingUri: "u", publishedPort: 1, publishHostIp: "127.0.0.1" };
    const serving = { replicas: 2, port: 9090, loadBalancerPort: 8001, resources };
    const open = servingTopology({ ...base, serving });
    expect(open.replicas.every((r) => r.env.SERVING_WORKERS === "1" && !("SERVING_API_KEY" in r.secretEnv) && !("SERVING_API_KEY" in r.env))).toBe(true);
    const locked = servingTopology({ ...base, serving, auth: true, workers: 2 });
    for (const r of locked.replicas) {
      expect(r.secretEnv.SERVING_API_KEY).toBe("servingApiKey");
      expect(r.env.SERVING_WORKERS).toBe("2");
      expect(resolveEnv(r, { servingApiKey: "k" })).toContain("SERVING_API_KEY=k");
    }
  });
});

describe("nginx config template", () => {
  it("renders the shipped template with no placeholder left, its upstreams from the include file", () => {
    const config = renderLoadBalancerConfig(readLoadBalancerTemplate(), 8000, 2);
    expect(config).not.toContain("{{");
    expect(config).toContain("listen 8000;");
    expect(config).toMatch(/upstream model_servers \{[^}]*\n\s+zone model_servers \d+k;\n\s+include \/tmp\/mlops-upstreams\.conf;\n\}/);
    expect(
      upstreamServers([
        { host: "a", port: 1 },
        { host: "b", port: 2 },
      ]),
    ).toMatch(/^server a:1 [^\n]*;\nserver b:2 [^\n]*;$/);
  });

  it("retries only what nginx may retry safely, with passive checks and working timeouts", () => {
    const config = renderLoadBalancerConfig(readLoadBalancerTemplate(), 8000, 2, { upstreamTimeoutSeconds: 7 });
    // A POST that reached a replica is never replayed: no `non_idempotent` anywhere.
    expect(config).toMatch(/^\s*proxy_next_upstream error timeout http_503;$/m);
    expect(config).not.toMatch(/^[^#]*non_idempotent/m);
    expect(config).toMatch(/proxy_next_upstream_tries 2;/);
    expect(config).toMatch(/proxy_read_timeout 7s;/);
    expect(upstreamServers([{ host: "a", port: 1 }], { failTimeoutSeconds: 5 })).toBe("server a:1 max_fails=1 fail_timeout=5s;");
    expect(loadBalancerEntrypoint([{ host: "a", port: 1 }]).join(" ")).toContain("max_fails=1 fail_timeout=5s;");
    expect(config).toMatch(/location = \/lb\/health \{[^}]*proxy_pass http:\/\/model_servers\/ping;/);
  });

  it("refuses an empty upstream list, unknown placeholders and hosts that are not DNS names", () => {
    expect(() => upstreamServers([])).toThrow(/at least one upstream/);
    expect(() => renderLoadBalancerConfig("{{LISTEN_PORT}}", 1, 0)).toThrow(/at least one upstream/);
    expect(() => renderLoadBalancerConfig("{{NOPE}}", 1, 1)).toThrow(/unknown placeholder \{\{NOPE\}\}/);
    expect(() => loadBalancerEntrypoint([{ host: "a; rm -rf /", port: 1 }])).toThrow(/DNS names/);
  });
});

describe("container env and limits", () => {
  it("fills secrets into env by name and refuses a missing one", () => {
    const mlflow = byRole(trackingTopology(tracking()).containers, "mlflow");
    const env = resolveEnv(mlflow, { databasePassword: "pw", objectStoreAccessKeyId: "ak", objectStoreSecretAccessKey: "sk" });
    expect(env).toContain("PGPASSWORD=pw");
    expect(env).toContain("AWS_SECRET_ACCESS_KEY=sk");
    expect(() => resolveEnv(mlflow, { databasePassword: "pw" })).toThrow(/container t-mlflow: AWS_ACCESS_KEY_ID needs the secret objectStoreAccessKeyId/);
  });

  it("converts Kubernetes quantities to Docker limits", () => {
    expect(dockerLimits({ cpuLimit: "500m", memoryLimit: "512Mi" })).toEqual({ cpus: 0.5, memoryMb: 512 });
    expect(dockerLimits({ cpuLimit: "2", memoryLimit: "2G" })).toEqual({ cpus: 2, memoryMb: 1907 });
    expect(() => dockerLimits({ cpuLimit: "1", memoryLimit: "lots" })).toThrow(/memoryLimit 'lots'/);
  });
});

describe("image build contexts", () => {
  const imagesDir = path.resolve(__dirname, "..", "..", "images");
  const contexts = fs.readdirSync(imagesDir).filter((d) => fs.existsSync(path.join(imagesDir, d, "Dockerfile")));

  it("deny everything first and re-include only code, the lock and wheels", () => {
    expect(contexts.sort()).toEqual(["mlflow", "python-deps", "serving", "trainer"]);
    for (const dir of contexts) {
      const rules = fs
        .readFileSync(path.join(imagesDir, dir, ".dockerignore"), "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
      expect(rules[0], dir).toBe("*");
      for (const allowed of rules.filter((r) => r.startsWith("!"))) expect(allowed, dir).toMatch(/^!(\*\.py|\*\.sh|requirements\.lock|scorers\.json|wheels|wheels\/\*\*)$/);
    }
  });

  it("pin a configurable base in the shared deps stage, run as the APP_UID user and never use latest", () => {
    for (const dir of contexts) {
      const dockerfile = fs.readFileSync(path.join(imagesDir, dir, "Dockerfile"), "utf8");
      expect(dockerfile, dir).not.toMatch(/:latest\b/);
      if (dir === "python-deps") {
        // The one base every workload image starts from: the configurable Python base, the venv, the user.
        expect(dockerfile).toContain("ARG PYTHON_BASE=python:3.12-slim");
        expect(dockerfile).toMatch(/^COPY --from=build \/opt\/venv \/opt\/venv$/m);
        expect(dockerfile).toMatch(/useradd --uid "\$\{APP_UID\}"/);
      } else {
        expect(dockerfile, dir).toMatch(/^FROM \$\{DEPS_IMAGE\}$/m);
        expect(dockerfile, dir).toMatch(/^USER \$\{APP_UID\}:\$\{APP_UID\}$/m);
      }
    }
  });
});
