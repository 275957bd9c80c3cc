/**
 * `npm run render` on the prod stack for real: the three phase programs through the Pulumi engine with
 * the kubernetes provider writing YAML (no cluster), then the offline gate (Kubernetes OpenAPI schemas,
 * strict fields; posture rules). Also proves the gate can fail, on deliberately broken copies.
 * Needs the toolchain (`make toolchain`); without it the tests are skipped with the reason printed,
 * except in CI (CI=true), where that is a failure.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postureExpectationsFor } from "../../components/kubernetes/validation";
import { type GateReport, type ManifestReport, validateManifestFolder } from "../../components/kubernetes/validation/renderedManifests";
import { loadStackConfig } from "../../config";
import { main as renderMain } from "../../driver/bin/render";
import { prepareOutDir } from "../../driver/render";
import { toolchainMissingReason } from "../support/prerequisites";
import { skipOrFailInCI } from "../support/skips";

const repoDir = path.resolve(__dirname, "../..");
const skipped = skipOrFailInCI("render tests", toolchainMissingReason());

/** What Pulumi.prod.yaml says, read from the file itself rather than through the code under test. */
const prodFile = parseYaml(fs.readFileSync(path.join(repoDir, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, Record<string, unknown>> };
const prodWorkers = prodFile.config["mlops:training"]?.workers as number;
const prodTracking = prodFile.config["mlops:tracking"] as { database: { storageSize: string }; objectStore: { storageSize: string } };
const prodIngress = (prodFile.config["mlops:serving"] as { ingress: { host: string; tlsSecret: string } }).ingress;

type Doc = Record<string, unknown>;
const at = (value: unknown, dotted: string): unknown =>
  dotted.split(".").reduce<unknown>((node, key) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined), value);

describe.skipIf(skipped)("npm run render -- --stack prod (real engine, kubernetes provider in render mode)", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-render-test-"));
  const outDir = path.join(scratch, "kept");
  const lines: string[] = [];
  let exitCode = -1;
  let report: GateReport;
  const ofKind = (kind: string) => report.manifests.filter((m) => m.kind === kind);
  const named = (kind: string, prefix: string): ManifestReport => {
    const found = ofKind(kind).filter((m) => m.name.startsWith(prefix));
    if (found.length !== 1) throw new Error(`expected one ${kind} named ${prefix}-*, found ${found.map((m) => m.name).join(", ") || "none"}`);
    return found[0] as ManifestReport;
  };

  beforeAll(async () => {
    const started = Date.now();
    exitCode = await renderMain(["--stack", "prod", "--out", outDir], (line) => lines.push(line));
    console.log(`render --stack prod --out: exit ${exitCode} in ${((Date.now() - started) / 1000).toFixed(1)} s\n${lines.filter((l) => !l.startsWith("[render ")).join("\n")}`);
    const config = loadStackConfig(repoDir, "prod");
    report = validateManifestFolder(
      outDir,
      postureExpectationsFor(config, prodWorkers),
      ["tracking", "training", "serving"].map((p) => path.join(outDir, p)),
    );
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("exits 0, prints one ok line per manifest file and a PASS total", () => {
    expect(exitCode).toBe(0);
    const manifestLines = lines.filter((l) => /^ {2}(tracking|training|serving)\/1-manifest\/\S+\.yaml {2}\w+\/\S+: ok$/.test(l));
    expect(manifestLines).toHaveLength(report.manifests.length);
    expect(lines).toContain(`[render] PASS: ${report.manifests.length} manifest(s), ${report.manifests.length} ok; 0 schema problem(s), 0 posture violation(s)`);
  });

  it("keeps a --out folder, mode 0700, with a folder per phase", () => {
    expect(fs.statSync(outDir).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(outDir).sort()).toEqual(["serving", "tracking", "training"]);
    expect(lines.some((l) => l.startsWith(`[render] manifests kept in ${outDir} (mode 0700`))).toBe(true);
  });

  it("renders every kind the prod stack needs, in the expected numbers", () => {
    const counts: Record<string, number> = {};
    for (const m of report.manifests) counts[m.kind] = (counts[m.kind] ?? 0) + 1;
    expect(counts).toEqual({
      Namespace: 1,
      StatefulSet: 2, // PostgreSQL, object store
      Service: 4, // PostgreSQL, object store, MLflow, model server
      Deployment: 2, // MLflow, model server
      Secret: 5, // tracking credentials; the trainers' and model servers' MLflow password; the trainers' database password (shared trial queue); the inference API key (serving.auth, on with an Ingress)
      Job: 3, // bucket creation, prepare, the Indexed training Job
      ConfigMap: 1, // shard specs
      NetworkPolicy: 3, // PostgreSQL, object store, model server
      Ingress: 1,
      HorizontalPodAutoscaler: 1,
      PodDisruptionBudget: 1,
    });
    expect(report.unreadable).toEqual([]);
  });

  it("gives PostgreSQL and the object store volumeClaimTemplates of the configured sizes", () => {
    const storage = (m: ManifestReport) => at((at(m.raw, "spec.volumeClaimTemplates") as Doc[])[0], "spec.resources.requests.storage");
    expect(storage(named("StatefulSet", "prod-tracking-postgres"))).toBe(prodTracking.database.storageSize);
    expect(storage(named("StatefulSet", "prod-tracking-object-store"))).toBe(prodTracking.objectStore.storageSize);
  });

  it("rolls the stores and MLflow on a rotation: a Secret digest on each pod template; PostgreSQL ready only once its role takes the Secret's password", () => {
    const digests = [named("StatefulSet", "prod-tracking-postgres"), named("StatefulSet", "prod-tracking-object-store"), named("Deployment", "prod-tracking-mlflow")].map(
      (m) => (at(m.raw, "spec.template.metadata.annotations") as Record<string, string> | undefined)?.["mlops-pipeline.io/secret-digest"],
    );
    for (const digest of digests) expect(digest).toMatch(/^[0-9a-f]{64}$/);
    // Each reads other values of the Secret (the database password; the S3 keys; all of them).
    expect(new Set(digests).size).toBe(3);
    const readiness = at(named("StatefulSet", "prod-tracking-postgres").raw, "spec.template.spec.containers.0.readinessProbe.exec.command") as string[];
    expect(readiness.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(readiness[2]).toMatch(/^pg_isready .* && .*ALTER ROLE/);
    const inits = at(named("Deployment", "prod-tracking-mlflow").raw, "spec.template.spec.initContainers") as { name: string; command: string[] }[];
    expect(inits.at(-1)).toMatchObject({ name: "sync-auth-admin", command: ["python", "/app/sync_auth_admin.py", "/etc/mlflow-auth/basic_auth.ini"] });
  });

  it("puts MLflow behind a Service that selects its pods", () => {
    const deployment = named("Deployment", "prod-tracking-mlflow");
    const service = named("Service", "prod-tracking-mlflow");
    const selector = at(service.raw, "spec.selector") as Record<string, string>;
    const podLabels = at(deployment.raw, "spec.template.metadata.labels") as Record<string, string>;
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(selector)) expect(podLabels[k]).toBe(v);
  });

  it("fans training out as one Indexed Job with parallelism = completions = workers of Pulumi.prod.yaml, after a prepare Job", () => {
    const workers = named("Job", "prod-training-workers");
    expect(at(workers.raw, "spec.completionMode")).toBe("Indexed");
    expect(at(workers.raw, "spec.parallelism")).toBe(prodWorkers);
    expect(at(workers.raw, "spec.completions")).toBe(prodWorkers);
    expect(named("Job", "prod-training-prepare").kind).toBe("Job");
  });

  it("points both training Jobs at the shared study in the rendered PostgreSQL Service, which admits their pods, password by secretKeyRef", () => {
    const postgres = named("Service", "prod-tracking-postgres");
    const policy = ofKind("NetworkPolicy").find((p) => JSON.stringify(at(p.raw, "spec.podSelector")).includes('"postgresql"'));
    const peers = (at(policy?.raw, "spec.ingress.0.from") as Doc[]).map((peer) => at(peer, "podSelector.matchLabels") as Record<string, string>);
    for (const job of [named("Job", "prod-training-prepare"), named("Job", "prod-training-workers")]) {
      const env = at(job.raw, "spec.template.spec.containers.0.env") as { name: string; value?: string; valueFrom?: unknown }[];
      const byName = Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));
      expect(byName.MLOPS_OPTUNA_STORAGE).toBe(`postgresql://mlflow@${postgres.name}.mlops.svc.cluster.local:5432/optuna`);
      expect(byName.PGPASSWORD).toMatchObject({ secretKeyRef: { key: "database-password" } });
      const labels = at(job.raw, "spec.template.metadata.labels") as Record<string, string>;
      expect(
        peers.some((peer) => Object.entries(peer).every(([k, v]) => labels[k] === v)),
        `${job.name} pods admitted to PostgreSQL`,
      ).toBe(true);
    }
  });

  it("serves behind an Ingress for the configured host with TLS, an HPA on the serving Deployment and a PDB", () => {
    const deployment = named("Deployment", "prod-serving-server");
    const service = named("Service", "prod-serving-server");
    const ingress = named("Ingress", "prod-serving-server");
    expect(at(ingress.raw, "spec.rules.0.host")).toBe(prodIngress.host);
    expect(at(ingress.raw, "spec.rules.0.http.paths.0.backend.service.name")).toBe(service.name);
    expect(at(ingress.raw, "spec.tls.0.secretName")).toBe(prodIngress.tlsSecret);
    expect(at(named("HorizontalPodAutoscaler", "prod-serving-server").raw, "spec.scaleTargetRef.name")).toBe(deployment.name);
    expect(at(named("PodDisruptionBudget", "prod-serving-server").raw, "spec.selector.matchLabels")).toEqual(at(deployment.raw, "spec.selector.matchLabels"));
  });

  it("passes the schema gate and the posture gate for every manifest", () => {
    expect(report.manifests.flatMap((m) => m.schemaProblems.map((p) => `${m.file}: ${p.path}: ${p.message}`))).toEqual([]);
    expect(report.manifests.flatMap((m) => m.violations.map((v) => `${m.file}: ${v.rule}: ${v.detail}`))).toEqual([]);
    expect(report.unattributed).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("catches broken manifests: a typo'd field (both gates), missing limits and a :latest image (posture), a wrong type (schema)", () => {
    const broken = path.join(scratch, "broken");
    fs.cpSync(outDir, broken, { recursive: true });
    const rewrite = (m: ManifestReport, change: (doc: Doc) => void) => {
      const file = path.join(broken, m.file);
      const doc = parseYaml(fs.readFileSync(file, "utf8")) as Doc;
      change(doc);
      fs.writeFileSync(file, toYaml(doc));
    };
    const container = (doc: Doc) => (at(doc, "spec.template.spec.containers") as Doc[])[0] as Doc;
    const mlflow = named("Deployment", "prod-tracking-mlflow");
    const serving = named("Deployment", "prod-serving-server");
    const workers = named("Job", "prod-training-workers");
    rewrite(mlflow, (doc) => {
      const c = container(doc);
      c.resource = c.resources; // the typo: `resource:` instead of `resources:`
      delete c.resources;
    });
    rewrite(serving, (doc) => {
      const c = container(doc);
      delete (c.resources as Doc).limits;
      c.image = "registry.example.com/mlops/mlops-serving:latest";
    });
    rewrite(workers, (doc) => {
      (doc.spec as Doc).parallelism = String(prodWorkers);
    });

    const config = loadStackConfig(repoDir, "prod");
    const gate = validateManifestFolder(
      broken,
      postureExpectationsFor(config, prodWorkers),
      ["tracking", "training", "serving"].map((p) => path.join(broken, p)),
    );
    const find = (m: ManifestReport) => gate.manifests.find((x) => x.file === m.file) as ManifestReport;
    expect(gate.ok).toBe(false);

    expect(find(mlflow).schemaProblems.map((p) => `${p.path}: ${p.message}`)).toEqual(["spec.template.spec.containers.0.resource: unknown field (not in the schema)"]);
    expect(find(mlflow).violations.map((v) => v.rule)).toContain("resources");

    expect(find(serving).schemaProblems).toEqual([]);
    expect(
      find(serving)
        .violations.map((v) => v.rule)
        .sort(),
    ).toEqual(["pinned-image", "resources"]);

    expect(find(workers).schemaProblems.map((p) => `${p.path}: ${p.message}`)).toEqual(["spec.parallelism: must be integer"]);

    const untouched = gate.manifests.filter((m) => ![mlflow.file, serving.file, workers.file].includes(m.file));
    expect(untouched.length).toBe(report.manifests.length - 3);
    expect(untouched.filter((m) => m.schemaProblems.length > 0).map((m) => m.file)).toEqual([]);
  });

  it("makes the default folder private (0700) and outside the repository", () => {
    const { dir, temporary } = prepareOutDir(undefined);
    try {
      expect(temporary).toBe(true);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(path.relative(repoDir, dir).startsWith("..")).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("as a command with no --out: renders into a temporary 0700 folder, validates, exits 0 and deletes the folder", () => {
    const started = Date.now();
    const res = spawnSync(process.execPath, ["--import", "tsx", path.join(repoDir, "driver", "bin", "render.ts"), "--stack", "prod"], {
      cwd: repoDir,
      encoding: "utf8",
      timeout: 600_000,
    });
    const output = `${res.stdout}${res.stderr}`;
    console.log(`npm run render -- --stack prod: exit ${res.status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(res.status, output).toBe(0);
    const dir = /\[render\] stack prod: manifests into (\S+) \(mode 0700, temporary\)/.exec(output)?.[1];
    expect(dir, output).toBeDefined();
    expect(path.relative(repoDir, dir as string).startsWith("..")).toBe(true);
    expect(output).toContain(`[render] removed ${dir} (rendered Secrets are plain text; pass --out <dir> to keep the manifests)`);
    expect(fs.existsSync(dir as string)).toBe(false);
    expect(output).toMatch(/\[render\] PASS: \d+ manifest\(s\)/);
  });

  it("refuses a stack that is not on kubernetes, naming the file and key, and leaves no folder behind", async () => {
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("mlops-render-")));
    const out: string[] = [];
    await expect(renderMain(["--stack", "local"], (l) => out.push(l))).rejects.toThrow(
      "Pulumi.local.yaml: mlops:platform is 'local': render needs a kubernetes stack (e.g. --stack prod)",
    );
    const after = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("mlops-render-") && !before.has(f));
    expect(after).toEqual([]);
  });
});
