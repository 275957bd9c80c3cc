/**
 * Faults in the middle of training, for real, on the local platform with production tracking
 * (PostgreSQL + SeaweedFS S3): the MLflow server process killed and brought back by rerunning the
 * init phase, PostgreSQL stopped and started, one trainer process SIGKILLed. After each, the study
 * has lost and duplicated nothing: exactly one FINISHED run per trial key, as many as the config
 * expands to, and no RUNNING leftovers, all read from MLflow's tables in PostgreSQL.
 *
 * `training.retries` is 0, so surviving the MLflow and PostgreSQL outages is the trainer's own
 * bounded retrying (images/trainer/tracking.py), not the platform restarting workers. Each outage
 * lasts until the trainers' logs show a call retrying through it, not a fixed time, and no call may
 * give up.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStudy } from "../../components/shared";
import { type RunningCommand, runCommand, timedStep, waitFor } from "../support/commands";
import { repoRoot, TestStack } from "../support/pipelineStack";
import { canRunPipelineSuite } from "../support/prerequisites";
import { deleteS3Prefix, productionTracking, type Stores, startStores, storeSecrets, type TrialRow, trialRows } from "../support/stores";
import { trialLedger } from "../support/trialLedger";
import { testPorts } from "../support/testPorts";

const database = "it_faults";
const prefix = "it-faults";
const ports = testPorts("test/integration/faults.test.ts");
const secrets: Record<string, string> = {};
const stack = new TestStack("it-faults", () => secrets);
let stores: Stores;

/** 36 trials over 2 workers, about 30-60 s of training here: long enough to strike in the middle. */
function writeStack(seed: number): void {
  const training = {
    estimator: "random_forest",
    searchSpace: { n_estimators: { values: [20, 40, 60, 80] }, max_depth: { values: [3, 6, null] }, min_samples_leaf: { values: [1, 3, 5] } },
    strategy: { kind: "grid" },
    cvFolds: 3,
    workers: 2,
    retries: 0,
    seed, // a new seed is a new study: each fault starts from zero trials
  };
  stack.write(
    { tracking: productionTracking(stores, { port: ports.mlflow, database, prefix }), training, serving: { port: ports.replica, loadBalancerPort: ports.lb } },
    "test/integration/faults.test.ts",
  );
}

interface Training {
  readonly studyId: string;
  readonly keys: string[];
  readonly run: RunningCommand;
}

/** Writes the stack with `seed` and starts `--phase train` in the background. */
function startTraining(seed: number): Training {
  writeStack(seed);
  const plan = planStudy(stack.name, stack.config().training);
  const run = stack.startDriver(["--phase", "train"], {}, 300_000);
  return {
    studyId: plan.study.studyId,
    keys: plan.trials.map((t) => t.key),
    run,
  };
}

const finished = (studyId: string, worker?: number) => trialRows(database, studyId).filter((r) => r.status === "FINISHED" && (worker === undefined || r.worker === worker));

async function waitForFinished(studyId: string, what: string, enough: (rows: TrialRow[]) => boolean): Promise<TrialRow[]> {
  return waitFor(
    what,
    () => {
      const rows = finished(studyId);
      return enough(rows) ? rows : undefined;
    },
    180_000,
    300,
  );
}

function expectComplete(training: Training): void {
  const ledger = trialLedger(trialRows(database, training.studyId), training.keys);
  expect(ledger).toEqual({ finished: training.keys.length, missing: [], duplicated: [], unfinished: [], unexpected: [] });
}

const workerLogs = (studyId: string) =>
  [0, 1].map((w) => {
    const file = path.join(stack.logDir, `train-${studyId}-worker-${w}.log`);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  });

/** Each worker log's line count now: retries logged before a fault are not the fault's. */
const logLengths = (studyId: string): number[] => workerLogs(studyId).map((log) => log.split("\n").length);

/** The attempt numbers of the trainers' retries after `since` (line counts) whose reason matches `why` (`...: tracking server unavailable (<why>); retry <n> in <s>s`). */
const retryAttempts = (studyId: string, why: RegExp, since: readonly number[]): number[] =>
  workerLogs(studyId)
    .flatMap((log, worker) => log.split("\n").slice(since[worker] ?? 0))
    .flatMap((line) => {
      const retry = /tracking server unavailable \((.*?)\); retry (\d+) in/.exec(line);
      return retry && why.test(retry[1] ?? "") ? [Number(retry[2])] : [];
    });

/** A trainer call's retry number that shows it rode out the outage for a while: 1 + 2 s of backoff at least. */
const outageRetries = 3;

/**
 * Keeps a fault on until one trainer call has retried `outageRetries` times against it (readiness, not a
 * fixed sleep: the outage the workers met, not one the test assumed), watching meanwhile that nothing
 * brings back MLflow's `port`. Well inside the trainers' 120 s retry budget.
 */
async function keepDownUntilRetried(studyId: string, why: RegExp, since: readonly number[], port?: number): Promise<{ retries: number; answeredMeanwhile: boolean }> {
  let answeredMeanwhile = false;
  const retries = await waitFor(
    `a trainer call to retry ${outageRetries} times (${why.source})`,
    async () => {
      if (port !== undefined && (await portAnswers(port))) answeredMeanwhile = true;
      const attempts = retryAttempts(studyId, why, since);
      return Math.max(0, ...attempts) >= outageRetries ? attempts.length : undefined;
    },
    90_000,
    200,
  );
  return { retries, answeredMeanwhile };
}

/** The trainers' logs never say a call gave up (its retry budget ran out): every call outlasted the outage. */
const expectNoCallGaveUp = (studyId: string) => expect(workerLogs(studyId).join("\n")).not.toMatch(/tracking server unavailable after \d+ attempt/);

const portAnswers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** The pid of worker `worker`'s trainer process, found by its command line. */
function trainerPid(studyId: string, worker: number): number {
  const shard = `${studyId}/shard-${worker}.json`;
  for (const pid of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv.some((a) => a.endsWith("trainer.py")) && argv.includes("run") && argv.some((a) => a.endsWith(shard))) return Number(pid);
    } catch {
      /* exited while we looked */
    }
  }
  throw new Error(`no trainer process of worker ${worker} (study ${studyId}) is running`);
}

const postgres = (command: string) =>
  runCommand(`postgres.sh ${command}`, "bash", [path.join(repoRoot, "scripts/services/postgres.sh"), command], {
    cwd: repoRoot,
    env: process.env,
    timeoutMs: 120_000,
    tailLines: 5,
  });

const canRun = canRunPipelineSuite("faults integration", { services: true });

describe.skipIf(!canRun)("faults in the middle of training (real MLflow, PostgreSQL, SeaweedFS, trainer processes)", () => {
  beforeAll(async () => {
    stores = await timedStep("start PostgreSQL and SeaweedFS, fresh database", () => startStores(database));
    Object.assign(secrets, storeSecrets());
    deleteS3Prefix(`${prefix}/`);
    writeStack(1);
    await timedStep("remove leftovers of an interrupted run", () => stack.make("mlflow-remove"));
    const init = await timedStep("init phase (MLflow on PostgreSQL + S3)", () => stack.driver(["--phase", "init"]));
    expect(init.status, init.output).toBe(0);
  });

  afterAll(async () => {
    const removed = await timedStep("make mlflow-remove", () => stack.remove());
    expect(removed.status, removed.output).toBe(0);
    deleteS3Prefix(`${prefix}/`);
  });

  it("finishes the study when the MLflow server is killed mid-training and the init phase brings it back", async () => {
    const training = startTraining(101);
    const atFault = await timedStep("train until the first trial finished", () => waitForFinished(training.studyId, "the first finished trial", (rows) => rows.length >= 1));
    expect(atFault.length, "the fault must strike before the last trial").toBeLessThan(training.keys.length);

    const pidFile = path.join(stack.runDir, "mlflow.pid");
    const pid = Number(fs.readFileSync(pidFile, "utf8"));
    const since = logLengths(training.studyId);
    process.kill(-pid, "SIGKILL"); // the whole process group: the mlflow CLI and its uvicorn workers
    await waitFor("the MLflow port to close", async () => ((await portAnswers(ports.mlflow)) ? undefined : true), 20_000, 100);
    const closedAt = Date.now();
    console.log(`[fault] killed MLflow (pid ${pid}) after ${atFault.length}/${training.keys.length} trials finished; down until a trainer call retried ${outageRetries} times`);
    const down = await timedStep("the trainers retry against the dead server", () => keepDownUntilRetried(training.studyId, /connection refused/, since, ports.mlflow));
    expect(down.answeredMeanwhile, "MLflow answered again before the init phase restarted it").toBe(false);
    const answersAgain = waitFor("MLflow to answer again", async () => ((await portAnswers(ports.mlflow)) ? Date.now() : undefined), 300_000, 100);
    answersAgain.catch(() => {}); // awaited below; a failed init phase must not leave it unhandled
    const init = await timedStep("init phase restarts MLflow", () => stack.driver(["--phase", "init"]));
    expect(init.status, init.output).toBe(0);
    const downSeconds = ((await answersAgain) - closedAt) / 1000;
    console.log(`[fault] MLflow's port was closed ${downSeconds.toFixed(1)} s; the trainers logged ${down.retries} retries against it`);
    expect(Number(fs.readFileSync(pidFile, "utf8"))).not.toBe(pid);

    const result = await timedStep("training finishes", () => training.run.done);
    expect(result.status, result.output).toBe(0);
    expectComplete(training);
    expectNoCallGaveUp(training.studyId);
  }, 420_000);

  it("finishes the study when PostgreSQL is stopped mid-training and started again", async () => {
    const training = startTraining(102);
    const atFault = await timedStep("train until the first trial finished", () => waitForFinished(training.studyId, "the first finished trial", (rows) => rows.length >= 1));
    expect(atFault.length, "the fault must strike before the last trial").toBeLessThan(training.keys.length);

    const since = logLengths(training.studyId);
    const stoppedAt = Date.now();
    expect((await postgres("stop")).status).toBe(0);
    console.log(`[fault] stopped PostgreSQL after ${atFault.length}/${training.keys.length} trials finished; down until a trainer call retried ${outageRetries} times`);
    // MLflow stays up and answers 5xx while its database is gone.
    const down = await timedStep("the trainers retry against MLflow without its database", () => keepDownUntilRetried(training.studyId, /HTTP 5\d\d/, since));
    expect((await postgres("start")).status).toBe(0);
    console.log(`[fault] PostgreSQL was down ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s; the trainers logged ${down.retries} retries against it`);

    const result = await timedStep("training finishes", () => training.run.done);
    expect(result.status, result.output).toBe(0);
    expectComplete(training);
    expectNoCallGaveUp(training.studyId);
  }, 420_000);

  it("fails the train phase naming the killed worker; its trial goes back to the shared queue and runs once more", async () => {
    const training = startTraining(103);
    // Local workers pull from one queue (an Optuna journal): strike while worker 1 is mid-trial, after it finished one.
    const victim = await timedStep("train until worker 1 is mid-trial", () =>
      waitFor(
        "worker 1 running a trial after finishing one",
        () => {
          const rows = trialRows(database, training.studyId);
          return rows.some((r) => r.worker === 1 && r.status === "FINISHED") ? rows.find((r) => r.worker === 1 && r.status === "RUNNING") : undefined;
        },
        180_000,
        100,
      ),
    );
    const pid = trainerPid(training.studyId, 1);
    process.kill(pid, "SIGKILL");
    console.log(`[fault] SIGKILLed worker 1's trainer (pid ${pid}) in the middle of trial ${victim.trialKey}`);

    const failed = await timedStep("the train phase fails", () => training.run.done);
    expect(failed.status).not.toBe(0);
    expect(failed.output).toContain(`training worker 1 of 2 (study ${training.studyId}) was killed by SIGKILL`);
    expect(failed.output).toContain(`its log: ${path.join(stack.logDir, `train-${training.studyId}-worker-1.log`)}`);
    expect(failed.output).not.toMatch(/\n\s+at .*\.ts:\d+/); // a message, not a stack trace

    const rerun = await timedStep("rerun the train phase", () => stack.driver(["--phase", "train"]));
    expect(rerun.status, rerun.output).toBe(0);
    // Only worker 1 runs again (create-replacement: the previous study's worker 1 is still in the state); worker 0 finished.
    expect(rerun.output).toMatch(/create(-replacement)? \S+ it-faults-training-worker-1 /);
    expect(rerun.output).not.toMatch(/create(-replacement)? \S+ it-faults-training-worker-0 /);
    expectComplete(training);
    // The dead attempt's heartbeat went stale, a live worker re-enqueued the trial and resumed its run: same run id, FINISHED.
    expect(workerLogs(training.studyId).join("\n")).toContain("its worker is gone; back in the queue");
    expect(finished(training.studyId).map((r) => r.runId)).toContain(victim.runId);
  }, 420_000);
});
