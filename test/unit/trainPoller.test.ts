import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadStackConfig, parseStackConfig } from "../../config";
import { type Connection, readThrough, startTrainPoller, studyProgressReader, trainProgressSource } from "../../driver/trainPoller";
import { progressMetrics, type TrainProgress } from "../../programs/trainProgress";
import { startFakeMlflow } from "../support/fakeMlflow";
import { processRunning } from "../support/processes";
import { freePort } from "../support/replicaFixtures";

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

/** A fake connection source: counts opens and stops, and can be told to refuse the next open. */
function fakeConnections() {
  const state = { opened: 0, stopped: 0, refuseNext: false };
  const open = async (): Promise<Connection> => {
    if (state.refuseNext) {
      state.refuseNext = false;
      throw new Error("MLflow did not answer http://127.0.0.1:5000/health within 5 s through `kubectl port-forward`");
    }
    state.opened++;
    return { stop: async () => void state.stopped++ };
  };
  return { state, open };
}

describe("readThrough (kubernetes: reads through the driver's port-forward)", () => {
  it("opens on the first read, reuses it, reopens after a failed read, and closes once", async () => {
    const c = fakeConnections();
    const results: (() => Promise<number>)[] = [async () => 1, async () => 2, () => Promise.reject(new Error("ECONNRESET")), async () => 4];
    let call = 0;
    const through = readThrough(() => (results[call++] ?? (async () => 0))(), c.open);
    expect(await through.read()).toBe(1);
    expect(await through.read()).toBe(2);
    expect(c.state).toMatchObject({ opened: 1, stopped: 0 });
    // The forward died with its pod: the failed read drops it, the next read opens a fresh one.
    await expect(through.read()).rejects.toThrow("ECONNRESET");
    expect(c.state).toMatchObject({ opened: 1, stopped: 1 });
    expect(await through.read()).toBe(4);
    expect(c.state).toMatchObject({ opened: 2, stopped: 1 });
    await through.close();
    await through.close();
    expect(c.state).toMatchObject({ opened: 2, stopped: 2 });
    await expect(through.read()).rejects.toThrow(/closed/);
  });

  it("a forward that does not come up fails that read only; the next read tries again", async () => {
    const c = fakeConnections();
    c.state.refuseNext = true;
    const through = readThrough(async () => "progress", c.open);
    await expect(through.read()).rejects.toThrow(/did not answer/);
    expect(await through.read()).toBe("progress");
    expect(c.state).toMatchObject({ opened: 1, stopped: 0 });
    await through.close();
    expect(c.state.stopped).toBe(1);
  });

  it("feeds the poller: a line every 10 s with counts of the budget and an ETA, the forward stopped with it", async () => {
    vi.useFakeTimers();
    try {
      const c = fakeConnections();
      const script = [progress({ finished: 1, foldFits: 5 }), undefined, progress({ finished: 3, pruned: 1, failed: 1, running: 1, foldFits: 19 })];
      let reads = 0;
      const through = readThrough(async () => {
        const next = script[reads++];
        if (next === undefined) throw new Error("socket hang up");
        return next;
      }, c.open);
      const lines: string[] = [];
      let clock = 0;
      const poller = startTrainPoller({ read: through.read, close: through.close, write: (line) => lines.push(line), intervalMs: 10_000, now: () => clock });
      for (let i = 0; i < 3; i++) {
        clock += 10_000;
        await vi.advanceTimersByTimeAsync(10_000);
      }
      await poller.stop();
      expect(lines).toEqual([
        // 1 settled in 10 s, 9 to go.
        "trials 1/10 (1 finished, 0 pruned, 0 failed; 2 running), 5 fold fits, ETA 1m 30s",
        "trials: MLflow not answering yet (socket hang up); still waiting",
        "trials 5/10 (3 finished, 1 pruned, 1 failed; 1 running), 19 fold fits, ETA 30s",
      ]);
      // Opened, dropped after the failure, reopened; stop() closed the last one.
      expect(c.state).toEqual({ opened: 2, stopped: 2, refuseNext: false });
    } finally {
      vi.useRealTimers();
    }
  });
});

/** A fake `kubectl port-forward`: listens on the local port and pipes every connection to FAKE_MLFLOW_PORT. */
const forwardingKubectl = `#!${process.execPath}
const fs = require("node:fs");
const net = require("node:net");
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_KUBECTL_LOG, process.pid + " " + args.join(" ") + "\\n");
const local = Number(args.find((a) => /^[0-9]+:[0-9]+$/.test(a)).split(":")[0]);
net.createServer((socket) => {
  const upstream = net.connect(Number(process.env.FAKE_MLFLOW_PORT), "127.0.0.1");
  socket.pipe(upstream).pipe(socket);
  socket.on("error", () => upstream.destroy());
  upstream.on("error", () => socket.destroy());
}).listen(local, args[args.indexOf("--address") + 1]);
process.on("SIGTERM", () => process.exit(0));
`;

describe("trainProgressSource on kubernetes (fake kubectl that forwards to a fake MLflow)", () => {
  it("reads the study through its own port-forward, opens a new one after it died, and stops it on close", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-trainpoller-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.writeFileSync(path.join(dir, "bin", "kubectl"), forwardingKubectl, { mode: 0o755 });
    const config = parseStackConfig(
      { "mlops:platform": "kubernetes", "mlops:kubernetes": { namespace: "mlops", context: "mlops-local" }, "mlops:tracking": { auth: { enabled: true } } },
      "Pulumi.t.yaml",
    );
    const values = { [progressMetrics.budget]: 4, [progressMetrics.finished]: 1, [progressMetrics.running]: 2, [progressMetrics.foldFits]: 3 };
    const mlflow = await startFakeMlflow({
      experimentName: config.training.experimentName,
      runs: [{ runId: "study", metrics: values }],
      credentials: { username: config.tracking.auth.adminUser, password: "admin-pw" },
    });
    const port = await freePort();
    const tracking = {
      portForwardCommand: { value: `kubectl -n mlops port-forward svc/t-tracking-mlflow ${port}:5000`, secret: false },
      driverTrackingUri: { value: `http://127.0.0.1:${port}`, secret: false },
    };
    const logFile = path.join(dir, "kubectl.log");
    const kubectlPids = () =>
      fs.existsSync(logFile)
        ? fs
            .readFileSync(logFile, "utf8")
            .trim()
            .split("\n")
            .map((l) => Number(l.split(" ")[0]))
        : [];
    const saved = { ...process.env };
    Object.assign(process.env, { PATH: `${path.join(dir, "bin")}${path.delimiter}${process.env.PATH ?? ""}`, FAKE_KUBECTL_LOG: logFile, FAKE_MLFLOW_PORT: String(mlflow.port) });
    const lines: string[] = [];
    try {
      const source = trainProgressSource(config, "t", tracking, "admin-pw", (line) => lines.push(line));
      if (!source?.close) throw new Error("expected a reader with a port-forward to close on kubernetes");
      expect(await source.read()).toMatchObject({ budget: 4, finished: 1, running: 2, foldFits: 3 });
      expect(await source.read()).toMatchObject({ budget: 4 });
      expect(kubectlPids()).toHaveLength(1);
      expect(fs.readFileSync(logFile, "utf8")).toContain(`--context mlops-local -n mlops port-forward svc/t-tracking-mlflow ${port}:5000 --address 127.0.0.1`);
      // The pod behind the forward went away: kubectl exits, the read fails, the next one forwards again.
      const [first] = kubectlPids();
      process.kill(first ?? -1, "SIGKILL");
      await vi.waitFor(() => expect(processRunning(first ?? -1)).toBe(false));
      await expect(source.read()).rejects.toThrow();
      expect(await source.read()).toMatchObject({ budget: 4 });
      const pids = kubectlPids();
      expect(pids).toHaveLength(2);
      await source.close();
      expect(processRunning(pids[1] ?? -1)).toBe(false);
      expect(lines.at(-1)).toBe("[port-forward] stopped");
    } finally {
      process.env = saved;
      for (const pid of kubectlPids()) if (processRunning(pid)) process.kill(pid, "SIGKILL");
      await mlflow.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on local and docker reads MLflow directly, with nothing to close", () => {
    const config = loadStackConfig(repo, "local");
    const source = trainProgressSource(config, "local", { driverTrackingUri: { value: "http://127.0.0.1:5000", secret: false } }, undefined, () => {});
    expect(source?.read).toBeTypeOf("function");
    expect(source?.close).toBeUndefined();
    expect(trainProgressSource(config, "local", {}, undefined, () => {})).toBeUndefined();
  });
});
