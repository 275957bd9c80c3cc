import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStudy } from "../../components/shared";
import { mlflowServiceUsers } from "../../components/shared/mlflowAuth";
import { modelVersionAnnotation, roles, secretDigestAnnotation, studyIdLabel } from "../../components/kubernetes/meta";
import { loadMetricsConfig, metricsConfigPath, type StackConfig } from "../../config";
import { runCommand, timedStep, waitFor } from "../support/commands";
import {
  clusterAlreadyUp,
  clusterEnv as env,
  clusterMlflow,
  clusterScript,
  clusterScripts,
  clusterSuiteSkipped,
  ingressRequest,
  kubectl,
  kubectlJson,
} from "../support/localCluster";
import { type MlflowRun, metric, tag } from "../support/mlflowRest";
import { phase, repoRoot, TestStack } from "../support/pipelineStack";
import { generatedSecretsOf, servingApiKeyOf } from "../support/stackSecrets";
import { rolloutProblems, runRolloutLoad } from "../support/rolloutLoad";
import { trialLedger } from "../support/trialLedger";
import { testPorts } from "../support/testPorts";

// The prod path of issue 9 on the local cluster of scripts/cluster, for real: `make pipeline` on a
// private copy of Pulumi.cluster.yaml (its own MLflow port, so a local stack on 5000 cannot collide;
// otherwise the same: in-stack PostgreSQL and object store, the Indexed Job, select through a real
// `kubectl port-forward`, the serving Deployment behind Traefik), `make inference-one`,
// `make train-kubernetes` / `make prod-kubernetes`, a training pod killed mid-trial, a new champion
// rolled out under load through the Ingress, and `make rotate-secrets` on it all. Needs root, `make cluster-build` and the Docker images of
// the stack (`make docker-base-images build-train build-prod`); the cluster is started here unless it is up.
const stack = new TestStack("cluster-it");
const namespace = "mlops";
const ingressHost = "models.cluster.test";
const alreadyUp = clusterAlreadyUp();
const skipped = clusterSuiteSkipped("the prod path on the local cluster", alreadyUp);
const metrics = loadMetricsConfig(metricsConfigPath(repoRoot));
const writer = "test/cluster/prodPath.test.ts";
const ports = testPorts(writer);

interface Workload {
  metadata: { name: string; uid?: string; deletionTimestamp?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { replicas?: number; completions?: number; template?: { metadata?: { annotations?: Record<string, string> } } };
  status?: { readyReplicas?: number; updatedReplicas?: number; succeeded?: number; failed?: number; phase?: string; conditions?: { type: string; status: string }[] };
}
const list = (args: readonly string[]) => kubectlJson<{ items: Workload[] }>(namespace, args).items;

/** The trial runs of the stack's current study, read from MLflow through the tracking phase's port-forward. */
async function studyRuns(config: StackConfig, studyId: string): Promise<MlflowRun[]> {
  const { mlflow, close } = await clusterMlflow(stack.name, config);
  try {
    return await mlflow.studyRuns(config.training.experimentName, studyId);
  } finally {
    await close();
  }
}

/** The study's run ids, sorted: the same list before and after a rerun means nothing trained again. */
const runIdsOf = (runs: readonly MlflowRun[]) => runs.map((r) => r.info.run_id).sort();

/** Every trial key of the config FINISHED exactly once, nothing unfinished. */
function expectLedger(runs: readonly MlflowRun[], config: StackConfig): void {
  const expectedKeys = planStudy(stack.name, config.training).trials.map((t) => t.key);
  const rows = runs.map((r) => ({ runId: r.info.run_id, status: r.info.status, trialKey: tag(r, "mlops.trial_key") ?? "", worker: Number(tag(r, "mlops.worker_index") ?? -1) }));
  expect(trialLedger(rows, expectedKeys)).toEqual({ finished: expectedKeys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });
}

/** The MLflow run a worker's log shows in progress: its last trial started or resumed and not yet reported done. */
function runInProgress(log: string): string | undefined {
  const lines = log.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const start = /^(.*): (?:started|resuming) run (\w+)/.exec(lines[i]);
    if (!start) continue;
    const [, label, runId] = start;
    return lines.slice(i + 1).some((line) => line.startsWith(`${label}: `)) ? undefined : runId;
  }
  return undefined;
}

const servingDeployment = () => {
  const serving = list(["get", "deployments"]).filter((d) => d.metadata.name.includes("-serving-server"));
  expect(serving).toHaveLength(1);
  return serving[0] as Workload;
};

const servingPods = () => list(["get", "pods"]).filter((p) => p.metadata.name.startsWith(`${stack.name}-serving-server-`) && p.status?.phase === "Running");

describe.skipIf(skipped)("the prod path on the local cluster (a copy of Pulumi.cluster.yaml, real Kubernetes)", () => {
  const startedHere = !alreadyUp;
  let config: StackConfig;
  let apiKey = "";
  const auth = () => ({ authorization: `Bearer ${apiKey}` });
  /** The model's example predicted 12 times through the Ingress, every answer 200, from every running serving pod: the replicas that answered. */
  const answeringReplicas = async (): Promise<Set<string>> => {
    const example = await ingressRequest(ingressHost, "/example", { headers: auth() });
    expect(example.status, example.body).toBe(200);
    const replicas = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const answer = await ingressRequest(ingressHost, "/invocations", { method: "POST", headers: { "content-type": "application/json", ...auth() }, body: example.body });
      expect(answer.status, answer.body).toBe(200);
      replicas.add(answer.replica);
    }
    expect([...replicas].sort()).toEqual(
      servingPods()
        .map((p) => p.metadata.name)
        .sort(),
    );
    return replicas;
  };

  beforeAll(async () => {
    stack.write({ tracking: { port: ports.mlflow } }, writer, "cluster");
    config = stack.config();
    if (startedHere) {
      const up = await timedStep("cluster up", () => clusterScript("up.sh"));
      expect(up.status, up.stderr).toBe(0);
    }
    const imported = await runCommand("import images", "bash", [path.join(clusterScripts, "import-images.sh")], { cwd: repoRoot, env: process.env, timeoutMs: 900_000 });
    expect(imported.status, imported.output).toBe(0);
    // Leftovers of an interrupted run would make the first pipeline an update, not a create.
    await timedStep("remove leftovers", () => stack.make("mlflow-remove", env));
  });

  afterAll(async () => {
    try {
      const removed = await timedStep("make mlflow-remove", () => stack.remove());
      expect(removed.status, removed.output).toBe(0);
      const left = list(["get", "all,pvc,secret,configmap,ingress,networkpolicy,hpa,pdb", "-l", "app.kubernetes.io/part-of=mlops-pipeline"]);
      expect(
        left.map((i) => i.metadata.name),
        "mlflow-remove left these in the namespace",
      ).toEqual([]);
    } finally {
      fs.rmSync(stack.file, { force: true });
      if (startedHere) {
        const down = await timedStep("cluster down", () => clusterScript("down.sh"));
        expect(down.status, down.stderr).toBe(0);
      }
    }
  });

  it("make pipeline: init, train, select, deploy and the smoke prediction through the Ingress controller", async () => {
    const pipeline = await stack.make("pipeline", env);
    expect(pipeline.status, pipeline.output).toBe(0);
    const run = stack.lastRun();
    expect(run.ok).toBe(true);
    expect(run.phases.map((p) => p.name)).toEqual(["init", "train", "select", "deploy", "smoke"]);
    expect(phase(run, "train").detail?.studyId).toBe(planStudy(stack.name, config.training).study.studyId);
    expect(String(phase(run, "smoke").detail?.replica)).toMatch(new RegExp(`^${stack.name}-serving-server-`));
    apiKey = (await servingApiKeyOf(stack.name)) ?? "";
  });

  it("init: PostgreSQL and the object store run as StatefulSets on bound claims, MLflow is Ready", () => {
    const sets = list(["get", "statefulsets"]);
    expect(sets.map((s) => s.metadata.name).join(" ")).toMatch(/postgres.*object-store|object-store.*postgres/);
    for (const set of sets) expect(set.status?.readyReplicas, set.metadata.name).toBe(set.spec?.replicas);
    const claims = kubectlJson<{ items: { metadata: { name: string }; status: { phase: string } }[] }>(namespace, ["get", "pvc"]).items;
    expect(claims.length).toBeGreaterThanOrEqual(2);
    for (const claim of claims) expect(claim.status.phase, claim.metadata.name).toBe("Bound");
    const mlflow = list(["get", "deployments"]).filter((d) => d.metadata.name.includes("mlflow"));
    expect(mlflow).toHaveLength(1);
    expect(mlflow[0]?.status?.readyReplicas).toBeGreaterThanOrEqual(1);
  });

  it("train: the Indexed Job completed every index; the study has every trial FINISHED once, with per-fold metrics (MLflow through a port-forward)", async () => {
    const workers = list(["get", "jobs"]).filter((j) => j.metadata.name.includes("training-workers"));
    expect(workers).toHaveLength(1);
    expect(workers[0]?.status?.succeeded).toBe(workers[0]?.spec?.completions);
    const runs = await studyRuns(config, planStudy(stack.name, config.training).study.studyId);
    expectLedger(runs, config);
    const scoring = config.training.scoring;
    for (const r of runs) {
      const folds = Array.from({ length: config.training.cvFolds }, (_, k) => metric(r, `cv_${scoring}_fold_${k}`));
      expect(
        folds.every((v) => typeof v === "number" && v >= 0 && v <= 1),
        `${r.info.run_id} folds ${folds}`,
      ).toBe(true);
      const sum = folds.reduce<number>((a, b) => a + (b ?? 0), 0);
      expect(metric(r, `cv_${scoring}_mean`)).toBeCloseTo(sum / folds.length, 6);
      expect(metric(r, `cv_${scoring}_std`)).toBeGreaterThanOrEqual(0);
    }
  });

  it("select: went through a real kubectl port-forward, stopped afterwards", () => {
    expect(kubectlForwards(), "a port-forward outlived the pipeline").toEqual([]);
  });

  it("deploy: the serving Deployment is Ready and one prediction through the Ingress answers from both replicas over a few requests", async () => {
    // Deploy returns with minReplicas Ready: the Deployment is created at the HPA's minimum, not at 1.
    const wanted = config.serving.autoscaling?.minReplicas ?? config.serving.replicas;
    expect(servingDeployment().status?.readyReplicas).toBe(wanted);
    expect((await ingressRequest(ingressHost, "/ping")).status).toBe(200);
    expect((await answeringReplicas()).size).toBe(wanted);
  });

  it("make inference-one returns a prediction through the stack's load balancer", async () => {
    const predicted = await stack.make("inference-one", env);
    expect(predicted.status, predicted.output).toBe(0);
    // One JSON line: the Ingress host as endpoint, answered by one of the serving Deployment's pods.
    const line = predicted.output.split("\n").find((l) => l.startsWith("{"));
    const result = JSON.parse(line ?? "{}") as { endpoint?: string; status?: number; replica?: string };
    expect(result.endpoint).toBe(`http://${ingressHost}`);
    expect(result.status).toBe(200);
    expect(result.replica).toMatch(new RegExp(`^${stack.name}-serving-server-`));
  });

  it("a second make pipeline changes nothing and trains nothing: the study's runs are the same, every trial key FINISHED exactly once", async () => {
    const studyId = planStudy(stack.name, config.training).study.studyId;
    const before = runIdsOf(await studyRuns(config, studyId));
    const again = await stack.make("pipeline", env);
    expect(again.status, again.output).toBe(0);
    const run = stack.lastRun();
    for (const name of ["init", "train", "deploy"]) expect(phase(run, name).resourceChanges, name).toBe(0);
    // Nothing trained again: no run was added (a retrained key would have a second run), none lost.
    const after = await studyRuns(config, studyId);
    expect(runIdsOf(after)).toEqual(before);
    expectLedger(after, config);
  });

  it("make train-kubernetes and make prod-kubernetes run their phase on the cluster (nothing to change, nothing trained again)", async () => {
    const studyId = planStudy(stack.name, config.training).study.studyId;
    const before = runIdsOf(await studyRuns(config, studyId));
    for (const [target, name] of [
      ["train-kubernetes", "train"],
      ["prod-kubernetes", "deploy"],
    ] as const) {
      const result = await stack.make(target, env);
      expect(result.status, result.output).toBe(0);
      const run = stack.lastRun();
      expect(run.ok, target).toBe(true);
      expect(phase(run, name).resourceChanges, target).toBe(0);
    }
    expect(servingDeployment().status?.readyReplicas).toBeGreaterThanOrEqual(1);
    const after = await studyRuns(config, studyId);
    expect(runIdsOf(after)).toEqual(before);
    expectLedger(after, config);
  });

  it("a serving Deployment deleted by hand (its pods with it) is put back by the next make pipeline, training nothing", async () => {
    const deleted = servingDeployment().metadata;
    kubectl(["-n", namespace, "delete", "deployment", deleted.name, "--wait=true"]);
    expect(list(["get", "deployments"]).map((d) => d.metadata.name)).not.toContain(deleted.name);
    const again = await stack.make("pipeline", env);
    expect(again.status, again.output).toBe(0);
    const run = stack.lastRun();
    // The refresh before the deploy saw the Deployment gone; the update created it again.
    expect(phase(run, "deploy").resourceChanges).toBeGreaterThanOrEqual(1);
    expect(phase(run, "train").resourceChanges).toBe(0);
    const restored = servingDeployment();
    // A new object (auto-named: a new name suffix, a new uid) in the deleted one's place, the only one of its role.
    expect(restored.metadata.uid).not.toBe(deleted.uid);
    expect(restored.status?.readyReplicas).toBe(config.serving.autoscaling?.minReplicas ?? config.serving.replicas);
    expect((await ingressRequest(ingressHost, "/ping")).status).toBe(200);
  });

  // Before the retrain and the rollout below: they train a new study and roll out its champion on the rotated passwords.
  it("make rotate-secrets: new passwords for the role, the object store and MLflow roll their pods; the old ones (admin, service users, role, object-store keys) are refused, the pipeline and the Ingress work on the new ones", async () => {
    const before = (await generatedSecretsOf(stack.name)).values;
    const digests = () =>
      Object.fromEntries(
        [...list(["get", "statefulsets"]), ...list(["get", "deployments"])]
          .filter((w) => w.metadata.name.startsWith(`${stack.name}-`))
          .map((w) => [w.metadata.name, w.spec?.template?.metadata?.annotations?.[secretDigestAnnotation]]),
      );
    const digestsBefore = digests();
    const rotated = await stack.make("rotate-secrets", env);
    expect(rotated.status, rotated.output).toBe(0);
    const run = stack.lastRun();
    expect(run.ok).toBe(true);
    // The whole pipeline ran on the new passwords: the driver's select through the port-forward, the smoke prediction.
    expect(run.phases.map((p) => p.name)).toEqual(["init", "train", "select", "deploy", "smoke"]);
    const after = (await generatedSecretsOf(stack.name)).values;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const [name, value] of Object.entries(before)) expect(after[name], `${name} rotated`).not.toBe(value);
    // The stores and MLflow carry new digests (so their pods were replaced); the serving Deployment reads none of these.
    const digestsAfter = digests();
    const rolled = Object.keys(digestsBefore).filter((name) => digestsBefore[name] !== undefined && digestsAfter[name] !== digestsBefore[name]);
    expect(rolled.sort()).toEqual(
      Object.keys(digestsBefore)
        .filter((name) => /-(postgres|object-store|mlflow)-/.test(name))
        .sort(),
    );

    // MLflow: the admin's old password is refused, the new one taken; the study's runs are all still there.
    const { mlflow, close } = await clusterMlflow(stack.name, config);
    try {
      const probe = `experiments/get-by-name?experiment_name=${encodeURIComponent(config.training.experimentName)}`;
      expect((await mlflow.fetch(probe)).status).toBe(200);
      expect((await mlflow.fetch(probe, undefined, { username: config.tracking.auth.adminUser, password: before.authAdminPassword ?? "" })).status).toBe(401);
      for (const [username, name] of [
        [mlflowServiceUsers.training, "trainingUserPassword"],
        [mlflowServiceUsers.serving, "servingUserPassword"],
      ] as const) {
        expect((await mlflow.fetch(probe, undefined, { username, password: before[name] ?? "" })).status, `${username}'s old password`).toBe(401);
        expect((await mlflow.fetch(probe, undefined, { username, password: after[name] ?? "" })).status, `${username}'s new password`).toBe(200);
      }
      expectLedger(await mlflow.studyRuns(config.training.experimentName, planStudy(stack.name, config.training).study.studyId), config);
    } finally {
      await close();
    }

    // PostgreSQL over TCP (scram) in its pod: the role refuses the old password and takes the new one (on psql's stdin, never an argv).
    const db = config.tracking.database;
    if (db.kind !== "inStack") throw new Error("Pulumi.cluster.yaml runs the in-stack PostgreSQL");
    const postgres = list(["get", "pods", "-l", `app.kubernetes.io/component=${roles.database}`]).find((p) => p.metadata.name.startsWith(stack.name));
    expect(postgres, "the PostgreSQL pod").toBeDefined();
    const psql = (password: string) =>
      kubectl(
        [
          "-n",
          namespace,
          "exec",
          "-i",
          postgres?.metadata.name ?? "",
          "--",
          "sh",
          "-c",
          `read -r PGPASSWORD && export PGPASSWORD && psql -X -At -h 127.0.0.1 -U ${db.user} -d ${db.database} -c "select 1"`,
        ],
        `${password}\n`,
      ).trim();
    expect(() => psql(before.databasePassword ?? "")).toThrow(/password authentication failed/);
    expect(psql(after.databasePassword ?? "")).toBe("1");

    // The object store, asked from the MLflow pod (boto3 is in its image) with each key pair on stdin: the
    // old pair is refused, the new one lists the bucket.
    const mlflowPod = list(["get", "pods", "-l", `app.kubernetes.io/component=${roles.trackingServer}`]).find(
      (p) => p.metadata.name.startsWith(stack.name) && p.status?.phase === "Running" && !p.metadata.deletionTimestamp,
    );
    expect(mlflowPod, "the MLflow pod").toBeDefined();
    const store = config.tracking.objectStore;
    if (store.kind !== "inStack") throw new Error("Pulumi.cluster.yaml runs the in-stack object store");
    const s3 = (accessKeyId: string, secretKey: string) =>
      kubectl(
        [
          "-n",
          namespace,
          "exec",
          "-i",
          mlflowPod?.metadata.name ?? "",
          "--",
          "python",
          "-c",
          [
            "import os, sys, boto3, botocore.exceptions as e",
            "key, secret = sys.stdin.read().split()",
            "c = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'], aws_access_key_id=key, aws_secret_access_key=secret, region_name='us-east-1')",
            "try:",
            `  c.list_objects_v2(Bucket='${store.bucket}'); print('ok')`,
            "except e.ClientError as err:",
            "  print(err.response.get('Error', {}).get('Code', 'error'))",
          ].join("\n"),
        ],
        `${accessKeyId} ${secretKey}\n`,
      ).trim();
    expect(s3(after.objectStoreAccessKeyId ?? "", after.objectStoreSecretKey ?? "")).toBe("ok");
    expect(s3(before.objectStoreAccessKeyId ?? "", before.objectStoreSecretKey ?? "")).toMatch(/InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch|Forbidden/);

    // The serving Deployment still answers through the Ingress, also from a pod started after the rotation
    // (it loads the champion with the serving user's new password and MLflow's artifacts on the new S3 keys).
    const replaced = servingPods()[0]?.metadata.name ?? "";
    kubectl(["-n", namespace, "delete", "pod", replaced, "--wait=true"]);
    const wanted = servingDeployment().spec?.replicas ?? 1;
    await waitFor(
      "the serving Deployment to be Ready again",
      () => (servingDeployment().status?.readyReplicas === wanted && servingPods().every((p) => p.metadata.name !== replaced) ? true : undefined),
      300_000,
      2000,
    );
    await answeringReplicas();
  });

  // The retrain of the next two tests: another seed and larger forests, so trials last long enough to be
  // killed in the middle, and the new study's best run is a different run (a new champion).
  const retrained = {
    searchSpace: { n_estimators: { values: [150, 200] }, learning_rate: { type: "float", low: 0.05, high: 0.3, log: true }, max_depth: { type: "int", low: 2, high: 4 } },
    strategy: { kind: "random", trials: 4, seed: 12 },
  };

  it("a training pod killed mid-trial: its index is retried and the study ends with every trial key FINISHED exactly once", async () => {
    stack.write({ tracking: { port: ports.mlflow }, training: retrained }, writer, "cluster");
    config = stack.config();
    const studyId = planStudy(stack.name, config.training).study.studyId;
    const train = stack.startDriver(["--phase", "train"], env);
    const killed = await waitFor(
      "a training pod to start a trial",
      () => {
        if (train.output().includes("pipeline finished")) throw new Error("the train phase ended before a trial could be killed");
        const pods = list(["get", "pods", "-l", `${studyIdLabel}=${studyId}`]).filter((p) => p.metadata.name.includes("-training-workers-") && p.status?.phase === "Running");
        for (const pod of pods) {
          const runId = runInProgress(kubectl(["-n", namespace, "logs", pod.metadata.name]));
          if (!runId) continue;
          kubectl(["-n", namespace, "delete", "pod", pod.metadata.name, "--grace-period=0", "--force"]);
          return { name: pod.metadata.name, index: pod.metadata.annotations?.["batch.kubernetes.io/job-completion-index"] ?? "?", runId };
        }
        return undefined;
      },
      600_000,
      500,
    );
    console.log(`[cluster] force-deleted ${killed.name} (index ${killed.index}) mid-trial`);
    const result = await train.done;
    expect(result.status, result.output).toBe(0);
    const job = list(["get", "jobs", "-l", `${studyIdLabel}=${studyId}`]).find((j) => j.metadata.name.includes("training-workers"));
    expect(job?.status?.succeeded).toBe(job?.spec?.completions);
    expect(job?.status?.failed, "the killed pod counts as a failed attempt of its index").toBeGreaterThanOrEqual(1);
    // The Job ran the index again in a new pod; the killed trial went back to the shared queue after its heartbeat
    // lapsed, and whichever worker took it (the retry or the other index) resumed the same MLflow run.
    const workers = list(["get", "pods", "-l", `${studyIdLabel}=${studyId}`]).filter((p) => p.metadata.name.includes("-training-workers-") && p.metadata.name !== killed.name);
    expect(workers.some((p) => p.metadata.annotations?.["batch.kubernetes.io/job-completion-index"] === killed.index)).toBe(true);
    const survivorLogs = workers.map((p) => kubectl(["-n", namespace, "logs", p.metadata.name])).join("\n");
    expect(survivorLogs, `no surviving worker resumed run ${killed.runId}`).toContain(`resuming run ${killed.runId}`);
    expectLedger(await studyRuns(config, studyId), config);
  });

  it("zero-downtime champion change: the new study's winner rolls out under load through the Ingress, 0 failed of >= 200 requests, every replica on the new version", async () => {
    const before = servingDeployment().spec?.template?.metadata?.annotations?.[modelVersionAnnotation];
    const example = (await ingressRequest(ingressHost, "/example", { headers: auth() })).body;
    const headers = { "content-type": "application/json", ...auth() };
    const replicas = servingDeployment().spec?.replicas ?? 1;
    // Four clients through the Ingress, paced (about 80 requests/s in all, so a 2-core machine still runs the
    // rollout itself); counted only while the new version rolls out (test/support/rolloutLoad.ts). The rollout
    // is over when, through the Ingress, as many pods as the Deployment wants all answer the new version.
    const load = await runRolloutLoad({
      label: "cluster",
      startDeploy: () => stack.startDriver(["--phase", "deploy"], env),
      send: async () => {
        const answer = await ingressRequest(ingressHost, "/invocations", { method: "POST", headers, body: example, timeoutMs: 30_000 });
        return answer.status === 200 ? undefined : `HTTP ${answer.status} from ${answer.replica || "?"}: ${answer.body.slice(0, 200)}`;
      },
      servedVersions: async () => {
        const answers = await Promise.all(Array.from({ length: 4 * replicas }, () => ingressRequest(ingressHost, "/version", { headers: auth(), timeoutMs: 10_000 })));
        return answers.filter((a) => a.status === 200).map((a) => ({ replica: a.replica, version: String((JSON.parse(a.body) as { version: string | number }).version) }));
      },
      replicas,
      pauseMs: 40,
      checkEveryMs: 500,
      maxSeconds: 840,
      settleSeconds: 120,
    });
    expect(load.deploy.status, load.deploy.output).toBe(0);
    expect(rolloutProblems(load)).toEqual([]);

    const after = servingDeployment();
    const version = after.spec?.template?.metadata?.annotations?.[modelVersionAnnotation];
    expect(version).toBeDefined();
    expect(version).not.toBe(before);
    // The Deployment rolled to the version the champion alias now points at (the retrained study's winner).
    const { mlflow, close } = await clusterMlflow(stack.name, config);
    const champion = await mlflow.aliasVersion(metrics.registeredModel.name, metrics.registeredModel.alias).finally(close);
    expect(champion.version).toBe(version);
    expect(load.target).toBe(version);
    expect(after.status?.updatedReplicas).toBe(after.spec?.replicas);
    // Terminating old pods still drain for a few seconds; then only the new ones run.
    const allServing = () => list(["get", "pods"]).filter((p) => p.metadata.name.startsWith(`${stack.name}-serving-server-`));
    await waitFor(
      "only the new replicas to remain",
      () => (allServing().length === after.spec?.replicas && servingPods().length === after.spec?.replicas ? true : undefined),
      120_000,
      1000,
    );
    const pods = servingPods().map((p) => p.metadata.name);
    const answers = new Map<string, string>();
    for (let i = 0; i < 12; i++) {
      const answer = await ingressRequest(ingressHost, "/version", { headers: auth() });
      expect(answer.status, answer.body).toBe(200);
      answers.set(answer.replica, String((JSON.parse(answer.body) as { version: string | number }).version));
    }
    expect([...answers.keys()].sort()).toEqual(pods.sort());
    expect(new Set(answers.values())).toEqual(new Set([version]));
  });
});

/** The `kubectl port-forward` processes to this namespace still running (none after a pipeline). */
function kubectlForwards(): string[] {
  const found = spawnSync("pgrep", ["-af", `${namespace} port-forward svc/`], { encoding: "utf8" });
  return found.stdout.split("\n").filter((line) => line.trim() !== "");
}
