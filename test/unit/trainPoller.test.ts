import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadStackConfig } from "../../config";
import { startTrainPoller, studyProgressReader } from "../../driver/trainPoller";
import { progressMetrics, type TrainProgress } from "../../programs/trainProgress";
import { startFakeMlflow } from "../support/fakeMlflow";

const repo = path.resolve(__dirname, "..", "..");
const progress = (p: Partial<TrainProgress> = {}): TrainProgress => ({ finished: 0, pruned: 0, failed: 0, running: 2, budget: 10, foldFits: 0, ...p });

/** Scripted reads, a fake clock advanced with the fake timers, and the lines written. */
function harness(reads: (() => Promise<TrainProgress | undefined>)[]) {
  let clock = 0;
  const lines: string[] = [];
  let calls = 0;
  const read = () => {
    const next = reads[Math.min(calls, reads.length - 1)];
    calls++;
    if (!next) throw new Error("no scripted read");
    return next();
  };
  const poller = startTrainPoller({ read, write: (line) => lines.push(line), intervalMs: 10_000, now: () => clock });
  const advance = async (ms: number) => {
    clock += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };
  return { poller, lines, advance, calls: () => calls };
}

describe("startTrainPoller", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes one line per interval with counts and an ETA, tolerating MLflow not answering yet", async () => {
    vi.useFakeTimers();
    const down = () => Promise.reject(new Error("MLflow experiments/get-by-name at http://127.0.0.1:1 failed after 1 attempt(s): ECONNREFUSED"));
    const h = harness([
      down,
      down,
      async () => undefined,
      async () => progress({ finished: 3, pruned: 1, foldFits: 17 }),
      async () => progress({ finished: 8, pruned: 1, failed: 1, running: 0, foldFits: 44 }),
    ]);
    await h.advance(9_999);
    expect(h.lines).toEqual([]);
    await h.advance(1);
    // The same failure is said once, not every interval.
    await h.advance(10_000);
    await h.advance(10_000);
    await h.advance(10_000);
    await h.advance(10_000);
    await h.poller.stop();
    expect(h.lines).toEqual([
      "trials: MLflow not answering yet (MLflow experiments/get-by-name at http://127.0.0.1:1 failed after 1 attempt(s): ECONNREFUSED); still waiting",
      "trials: waiting for the first result (30s elapsed)",
      // 4 settled in 40 s, 6 to go.
      "trials 4/10 (3 finished, 1 pruned, 0 failed; 2 running), 17 fold fits, ETA 1m 00s",
      "trials 10/10 (8 finished, 1 pruned, 1 failed), 44 fold fits, all settled",
    ]);
  });

  it("keeps its rate when MLflow is slow: a 7 s read does not push the next one back", async () => {
    vi.useFakeTimers();
    const slow = () => new Promise<TrainProgress>((resolve) => setTimeout(() => resolve(progress()), 7_000));
    const h = harness([slow]);
    await h.advance(30_000);
    expect(h.calls()).toBe(3); // at 10, 20 and 30 s
    expect(h.lines).toHaveLength(2);
    const stopped = h.poller.stop(); // waits for the read still out, then writes nothing
    await h.advance(7_000);
    await stopped;
    expect(h.lines).toHaveLength(2);
  });

  it("stops for good: no read and no line after stop, also with a read in flight", async () => {
    vi.useFakeTimers();
    let release: (p: TrainProgress) => void = () => {};
    const slow = () => new Promise<TrainProgress>((resolve) => (release = resolve));
    const h = harness([slow]);
    await h.advance(10_000);
    expect(h.calls()).toBe(1);
    const stopped = h.poller.stop();
    release(progress({ finished: 1 }));
    await stopped;
    await h.advance(60_000);
    expect(h.calls()).toBe(1);
    expect(h.lines).toEqual([]);
    await h.poller.stop();
  });
});

describe("studyProgressReader", () => {
  it("finds the experiment, then reads the study run's progress metrics with the admin's credentials", async () => {
    const config = loadStackConfig(repo, "local");
    const values = { [progressMetrics.budget]: 6, [progressMetrics.finished]: 2, [progressMetrics.pruned]: 1, [progressMetrics.foldFits]: 9 };
    const credentials = { username: config.tracking.auth.adminUser, password: "pw" };
    const mlflow = await startFakeMlflow({ experimentName: config.training.experimentName, runs: [{ runId: "study", metrics: values }], credentials });
    try {
      const read = studyProgressReader(config, "local", mlflow.url, "pw");
      expect(await read()).toMatchObject({ budget: 6, finished: 2, pruned: 1, foldFits: 9 });
      expect(await read()).toMatchObject({ budget: 6 });
      // The experiment id is looked up once.
      expect(mlflow.requests.filter((r) => r.includes("get-by-name"))).toHaveLength(1);
    } finally {
      await mlflow.close();
    }
  });

  it("is undefined before the experiment exists and throws at once while MLflow does not answer", async () => {
    const config = loadStackConfig(repo, "local");
    const mlflow = await startFakeMlflow({ experimentName: "another", runs: [] });
    const url = mlflow.url;
    try {
      expect(await studyProgressReader(config, "local", url)()).toBeUndefined();
    } finally {
      await mlflow.close();
    }
    const started = Date.now();
    await expect(studyProgressReader(config, "local", url)()).rejects.toThrow(/get-by-name.*1 attempt/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
