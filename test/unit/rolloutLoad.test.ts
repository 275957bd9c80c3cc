import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localPaths } from "../../components/local/paths";
import { loadStackConfig } from "../../config";
import { PhaseProgress } from "../../driver/progress";
import { phases, stackPhaseNamed } from "../../driver/phases";
import { localUrl, type Started, setMode, startReplica, stopStartedProcesses } from "../support/replicaFixtures";
import { allServe, announcedVersion, type RolloutLoadArgs, rolloutProblems, runRolloutLoad, type ServedVersion } from "../support/rolloutLoad";

// The counting rules of test/support/rolloutLoad.ts against two fake replica processes
// (test/support/fakeReplica.ts) and a scripted deploy: what counts, and what makes the claim fail.

const root = path.resolve(__dirname, "..", "..");
let replicas: Started[] = [];

/** The deploy phase's real intro line, as the driver prints it (driver/pipeline.ts labels, driver/progress.ts lines). */
function deployLine(version: string): string {
  const deploy = stackPhaseNamed("deploy");
  const config = loadStackConfig(root, "local");
  const intro = deploy.intro(
    { stack: "local", config, paths: localPaths("/work/proj", "local") },
    { jobTrackingUri: "http://127.0.0.1:5000", modelUri: "models:/m@champion", modelVersion: version },
    root,
  );
  let line = "";
  new PhaseProgress(`${phases.indexOf(deploy) + 1}/${phases.length} deploy`, (l) => {
    line = l;
  }).step(intro);
  return line;
}

const setVersion = (r: Started, version: string) => fetch(localUrl(r.port, `/set-version/${version}`), { method: "POST" });

interface Timeline {
  /** ms after the deploy's start: the deploy line appears (undefined: never). */
  readonly announceAt?: number;
  /** ms after the deploy's start at which replica i switches to version 2 (undefined: never). */
  readonly switchAt: readonly (number | undefined)[];
  readonly doneAt: number;
}

/** A deploy that follows the timeline on the fake replicas; records when (epoch ms) each step happened. */
function scriptedDeploy(timeline: Timeline) {
  const happened: { started?: number; announced?: number; switched: number[] } = { switched: [] };
  const start = () => {
    happened.started = Date.now();
    let output = "[3/5 select] champion: run abc (version 2)\n";
    if (timeline.announceAt !== undefined)
      setTimeout(() => {
        output += `${deployLine("2")}\n`;
        happened.announced = Date.now();
      }, timeline.announceAt);
    timeline.switchAt.forEach((at, i) => {
      const replica = replicas[i];
      if (at === undefined || !replica) return;
      setTimeout(() => {
        void setVersion(replica, "2").then(() => happened.switched.push(Date.now()));
      }, at);
    });
    const done = new Promise<{ status: number }>((resolve) => setTimeout(() => resolve({ status: 0 }), timeline.doneAt));
    return { output: () => output, done };
  };
  return { start, happened };
}

let next = 0;
const send = async (): Promise<string | undefined> => {
  const replica = replicas[next++ % replicas.length] as Started;
  const res = await fetch(localUrl(replica.port, "/invocations"), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  await res.text();
  return res.status === 200 ? undefined : `HTTP ${res.status}`;
};
const servedVersions = async (): Promise<ServedVersion[]> =>
  Promise.all(
    replicas.map(async (r) => {
      const res = await fetch(localUrl(r.port, "/version"));
      const body = (await res.json()) as { version: string; replica_id: string };
      return { replica: body.replica_id, version: body.version };
    }),
  );
const base = (start: RolloutLoadArgs<{ status: number }>["startDeploy"]): RolloutLoadArgs<{ status: number }> => ({
  startDeploy: start,
  send,
  servedVersions,
  replicas: 2,
  pauseMs: 5,
  checkEveryMs: 40,
  settleSeconds: 0.3,
  maxSeconds: 10,
  label: "rolloutLoad unit",
});

describe("rolloutLoad: counts only requests sent while the new version rolls out", () => {
  beforeAll(async () => {
    replicas = await Promise.all([startReplica("replica-a"), startReplica("replica-b")]);
  });
  afterAll(() => stopStartedProcesses());

  const reset = async () => {
    for (const r of replicas) {
      await setVersion(r, "1");
      await setMode(r.port, "ok");
    }
  };

  it("reads the version from the deploy phase's real intro line, and nothing from select's", () => {
    expect(deployLine("7")).toMatch(/^\[4\/4 deploy\] /);
    expect(announcedVersion(`[3/4 select] champion version 9\n${deployLine("7")}\n`)).toBe("7");
    expect(announcedVersion("[3/4 select] registered version 9 (version 9)\n")).toBeUndefined();
  });

  it("judges a rollout over only when enough distinct replicas all answer the new version", () => {
    const a2 = { replica: "a", version: "2" };
    expect(allServe([a2, { replica: "b", version: "2" }], "2", 2)).toBe(true);
    expect(allServe([a2, a2, a2], "2", 2)).toBe(false);
    expect(allServe([a2, { replica: "b", version: "1" }, { replica: "b", version: "2" }], "2", 2)).toBe(false);
    expect(allServe([], "2", 0)).toBe(false);
  });

  it("opens the window at the deploy's announcement and closes it before the last replica switched; no problem when >= minCounted all succeeded", async () => {
    await reset();
    const deploy = scriptedDeploy({ announceAt: 400, switchAt: [900, 1500], doneAt: 1700 });
    const load = await runRolloutLoad({ ...base(deploy.start), minCounted: 5 });
    const { announced = 0, switched } = deploy.happened;
    expect(load.endedBy).toBe("rollout");
    expect(load.target).toBe("2");
    expect(load.deploy.status).toBe(0);
    const lastSwitch = Math.max(...switched);
    const countedAbs = load.countedAt.map((s) => load.startedAt + s * 1000);
    // Requests were sent before the announcement (select running) and are not counted.
    expect(load.sentAt.filter((s) => load.startedAt + s * 1000 < announced).length).toBeGreaterThan(0);
    expect(Math.min(...countedAbs)).toBeGreaterThanOrEqual(announced);
    // Every counted request went out before the last replica served the new version.
    expect(Math.max(...countedAbs)).toBeLessThanOrEqual(lastSwitch);
    expect(load.counted).toBeGreaterThanOrEqual(5);
    expect(load.counted).toBeLessThan(load.sent);
    expect(load.failures).toEqual([]);
    expect(rolloutProblems(load)).toEqual([]);
  });

  it("fails the claim with fewer than 200 counted requests (the default), however many were sent outside the window", async () => {
    await reset();
    const deploy = scriptedDeploy({ announceAt: 600, switchAt: [650, 700], doneAt: 800 });
    const load = await runRolloutLoad(base(deploy.start));
    expect(load.endedBy).toBe("rollout");
    expect(load.counted).toBeLessThan(200);
    expect(rolloutProblems(load)).toEqual([expect.stringMatching(/^only \d+ requests were sent while the rollout ran, expected at least 200$/)]);
  });

  it("fails the claim on one failed request, inside or outside the window", async () => {
    await reset();
    const deploy = scriptedDeploy({ announceAt: 300, switchAt: [900, 1300], doneAt: 1400 });
    const replica = replicas[0] as Started;
    setTimeout(() => void setMode(replica.port, "loading"), 500);
    setTimeout(() => void setMode(replica.port, "ok"), 700);
    const load = await runRolloutLoad({ ...base(deploy.start), minCounted: 10 });
    expect(load.endedBy).toBe("rollout");
    expect(load.failures.length).toBeGreaterThan(0);
    expect(load.failures.every((f) => f.detail === "HTTP 503")).toBe(true);
    expect(rolloutProblems(load).some((p) => /failed: HTTP 503$/.test(p))).toBe(true);
  });

  it("fails the claim when its own request bound ended the load before the rollout did", async () => {
    await reset();
    const deploy = scriptedDeploy({ announceAt: 100, switchAt: [5000, 6000], doneAt: 6500 });
    const load = await runRolloutLoad({ ...base(deploy.start), maxRequests: 60, minCounted: 10 });
    expect(load.endedBy).toBe("request bound");
    expect(load.sent).toBe(60);
    expect(rolloutProblems(load)[0]).toBe("the load ended because its own request bound (maxRequests) was reached, not because every replica served the new version");
  });

  it("fails the claim when its time bound ended the load", async () => {
    await reset();
    const deploy = scriptedDeploy({ announceAt: 100, switchAt: [undefined, undefined], doneAt: 3000 });
    const load = await runRolloutLoad({ ...base(deploy.start), maxSeconds: 1, minCounted: 10 });
    expect(load.endedBy).toBe("time bound");
    expect(load.sentAt.every((s) => s < 1.1)).toBe(true);
    expect(rolloutProblems(load)[0]).toMatch(/^the load ended because its own time bound \(maxSeconds\) was reached/);
  });

  it("fails the claim when the deploy ends without announcing a rollout, or with a replica still on the old version", async () => {
    await reset();
    const silent = await runRolloutLoad({ ...base(scriptedDeploy({ switchAt: [], doneAt: 300 }).start), minCounted: 1 });
    expect(silent.endedBy).toBe("no rollout");
    expect(silent.counted).toBe(0);
    await reset();
    const half = await runRolloutLoad({ ...base(scriptedDeploy({ announceAt: 100, switchAt: [200, undefined], doneAt: 400 }).start), minCounted: 1 });
    expect(half.endedBy).toBe("rollout unfinished");
    expect(rolloutProblems(half)[0]).toMatch(/did not all serve the new version within settleSeconds/);
  });

  it("refuses fewer than 4 concurrent clients", async () => {
    await expect(runRolloutLoad({ ...base(scriptedDeploy({ switchAt: [], doneAt: 0 }).start), clients: 2 })).rejects.toThrow(/at least 4 concurrent clients/);
  });
});
