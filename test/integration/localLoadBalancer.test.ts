import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkUpstream, defaultBalancerOptions, newUpstream, timeoutsBeforeUnready } from "../../components/local/loadBalancer";
import {
  abortMidBody,
  freePort,
  invocationCount as count,
  invoke,
  localUrl as url,
  pause,
  replicaThatGotIt,
  setMode,
  startNode,
  startReplica as replica,
  stopStartedProcesses,
  waitUntil,
} from "../support/replicaFixtures";

/**
 * The local load balancer as a real process in front of real replica processes (test/support/fakeReplica.ts)
 * on loopback: the faults real clients and replicas cause, each done for real (raw sockets, SIGKILL).
 */

afterAll(stopStartedProcesses);

const balancer = (ports: readonly number[], extra: readonly string[] = []) =>
  startNode(path.join("components", "local", "loadBalancer.ts"), ["--listen", "127.0.0.1:0", ...ports.flatMap((p) => ["--upstream", `http://127.0.0.1:${p}`]), ...extra]);

describe("local load balancer against real replica processes", () => {
  it("spreads requests over the ready replicas and retries only a refused connection", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const dead = await replica("dead");
    dead.child.kill("SIGKILL");
    await pause(200);
    const lb = await balancer([r0.port, r1.port, dead.port]);
    for (let i = 0; i < 12; i++) {
      const res = await invoke(lb.port, `{"n":${i}}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { echo: string }).echo).toBe(`{"n":${i}}`);
    }
    const hits = [await count(r0.port), await count(r1.port)];
    expect(hits[0]).toBeGreaterThanOrEqual(4);
    expect(hits[1]).toBeGreaterThanOrEqual(4);
    expect((hits[0] ?? 0) + (hits[1] ?? 0)).toBe(12);
    const health = (await (await fetch(url(lb.port, "/lb/health"))).json()) as { ready: boolean; upstreams: { up: boolean }[] };
    expect(health.ready).toBe(true);
    expect(health.upstreams.map((u) => u.up)).toEqual([true, true, false]);
  });

  it("survives clients that abort mid-body and mid-wait", async () => {
    const r0 = await replica("r0");
    const lb = await balancer([r0.port], ["--upstream-timeout-ms", "3000"]);
    await abortMidBody(lb.port, 5);
    await setMode(r0.port, "hang");
    const waiting = fetch(url(lb.port, "/invocations"), { method: "POST", body: "{}", signal: AbortSignal.timeout(300) }).catch((e: Error) => e);
    expect(await waiting).toBeInstanceOf(Error);
    await setMode(r0.port, "ok");
    await waitUntil("the replica to be ready again", async () => (await fetch(url(lb.port, "/lb/health"))).status === 200);
    expect(lb.child.exitCode).toBeNull();
    expect((await invoke(lb.port)).status).toBe(200);
  });

  for (const mode of ["half", "hang"] as const) {
    it(`answers 502 at once when a replica dies ${mode === "half" ? "mid-response" : "before answering"}, and never replays the request`, async () => {
      const replicas = await Promise.all([replica("r0"), replica("r1")]);
      const lb = await balancer(replicas.map((r) => r.port));
      for (const r of replicas) await setMode(r.port, mode);
      const pending = invoke(lb.port);
      const { victim, others } = await replicaThatGotIt(replicas);
      const killedAt = Date.now();
      victim.child.kill("SIGKILL");
      const res = await pending;
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: string }).error).toMatch(/not retried elsewhere/);
      expect(Date.now() - killedAt).toBeLessThan(2_000);
      for (const other of others) expect(await count(other.port)).toBe(0);
    });
  }

  it("gives a hung replica's request 504 after the upstream timeout, without replaying it", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await balancer([r0.port, r1.port], ["--upstream-timeout-ms", "1500", "--health-interval-ms", "60000"]);
    await setMode(r0.port, "hang");
    await setMode(r1.port, "hang");
    const started = Date.now();
    const res = await invoke(lb.port);
    const seconds = (Date.now() - started) / 1000;
    expect(res.status).toBe(504);
    expect(seconds).toBeGreaterThanOrEqual(1.4);
    expect(seconds).toBeLessThan(5);
    expect((await count(r0.port)) + (await count(r1.port))).toBe(1);
  });

  it("skips a replica that answers 503 (loading, draining) until its /ping says ready, and reports readiness", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    await setMode(r1.port, "loading");
    const lb = await balancer([r0.port, r1.port], ["--health-interval-ms", "200"]);
    for (let i = 0; i < 10; i++) expect((await invoke(lb.port)).status).toBe(200);
    expect(await count(r0.port)).toBe(10);
    expect(await count(r1.port)).toBe(0);
    await setMode(r0.port, "loading");
    await waitUntil("the balancer to report no ready replica", async () => (await fetch(url(lb.port, "/lb/health"))).status === 503);
    // Both were asked (a 503 means the replica did not process it), then the balancer gives up.
    const none = await invoke(lb.port);
    expect(none.status).toBe(503);
    expect(none.headers.get("retry-after")).toBe("1");
    expect(((await none.json()) as { error: string }).error).toMatch(/no replica is ready.*HTTP 503.*loading.*HTTP 503.*loading/);
    const askedBefore = await count(r1.port);
    await setMode(r0.port, "ok");
    await setMode(r1.port, "ok");
    await waitUntil("both replicas back", async () => ((await (await fetch(url(lb.port, "/lb/health"))).json()) as { upstreams: { up: boolean }[] }).upstreams.every((u) => u.up));
    for (let i = 0; i < 10; i++) expect((await invoke(lb.port)).status).toBe(200);
    expect((await count(r1.port)) - askedBefore).toBe(5);
  });

  it("keeps serving through a draining replica while the new one is not yet seen ready (the rollout window)", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await balancer([r0.port, r1.port], ["--health-interval-ms", "200"]);
    // r0 drains (its /ping fails, it still serves); r1 is still loading its new model.
    await setMode(r0.port, "draining");
    await setMode(r1.port, "loading");
    await waitUntil("the balancer to see neither replica ready", async () => (await fetch(url(lb.port, "/lb/health"))).status === 503);
    const servedBefore = await count(r0.port);
    for (let i = 0; i < 10; i++) {
      const res = await invoke(lb.port, `{"n":${i}}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-replica-id")).toBe("r0");
    }
    expect((await count(r0.port)) - servedBefore).toBe(10);
    // Once r1 is ready it takes the requests and the draining r0 gets none.
    await setMode(r1.port, "ok");
    await waitUntil("r1 ready", async () => (await fetch(url(lb.port, "/lb/health"))).status === 200);
    const drained = await count(r0.port);
    for (let i = 0; i < 6; i++) expect((await invoke(lb.port)).headers.get("x-replica-id")).toBe("r1");
    expect(await count(r0.port)).toBe(drained);
  });

  it("drops a replica only after two health checks in a row get no answer, and at once when it refuses", async () => {
    const r0 = await replica("r0");
    const upstream = newUpstream(`http://127.0.0.1:${r0.port}`);
    const options = { ...defaultBalancerOptions, healthIntervalMs: 300 };
    await checkUpstream(upstream, options);
    expect(upstream).toMatchObject({ ready: true, answering: true });
    await setMode(r0.port, "hang");
    await checkUpstream(upstream, options);
    expect(upstream).toMatchObject({ ready: true, timeouts: 1 });
    await checkUpstream(upstream, options);
    expect(upstream).toMatchObject({ ready: false, answering: false, timeouts: timeoutsBeforeUnready });
    await setMode(r0.port, "ok");
    await checkUpstream(upstream, options);
    expect(upstream).toMatchObject({ ready: true, answering: true, timeouts: 0 });
    r0.child.kill("SIGKILL");
    await pause(200);
    await checkUpstream(upstream, options);
    expect(upstream).toMatchObject({ ready: false, answering: false });
  });

  it("is started again by keepAlive.ts when it dies, and stops with it", async () => {
    const r0 = await replica("r0");
    const port = await freePort();
    const script = path.join("components", "local", "loadBalancer.ts");
    const supervised = await startNode(path.join("components", "local", "keepAlive.ts"), [
      "--start-failure-seconds",
      "0",
      "--",
      process.execPath,
      "--import",
      "tsx",
      script,
      "--listen",
      `127.0.0.1:${port}`,
      "--upstream",
      `http://127.0.0.1:${r0.port}`,
    ]);
    let log = "";
    supervised.child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    expect((await invoke(port)).status).toBe(200);
    // The balancer is keepAlive's child: kill it as the OOM killer would.
    // By its command line: keepAlive (under tsx) has other children too, such as esbuild's service.
    const childOf = (pid: number | undefined) => {
      const found = spawnSync("pgrep", ["-P", String(pid), "-f", "loadBalancer.ts"], { encoding: "utf8" })
        .stdout.trim()
        .split("\n")[0];
      return found ? Number(found) : undefined;
    };
    const first = childOf(supervised.child.pid) as number;
    expect(first).toBeGreaterThan(0);
    process.kill(first, "SIGKILL");
    let second: number | undefined;
    await waitUntil(
      "keepAlive to start a new balancer",
      async () => {
        second = childOf(supervised.child.pid);
        return second !== undefined && second !== first;
      },
      20_000,
    );
    await waitUntil("the balancer to answer again", async () => (await invoke(port)).status === 200, 20_000);
    await waitUntil("keepAlive to log the restart", async () => log.includes("restarting in"));
    expect(log).toMatch(/exited \(SIGKILL\); restarting in 500 ms/);
    supervised.child.kill("SIGTERM");
    await new Promise((resolve) => supervised.child.once("exit", resolve));
    expect(() => process.kill(second as number, 0)).toThrow();
  });

  it("does not restart a process whose first run fails at once: the deploy reports it", async () => {
    const failed = spawnSync(process.execPath, ["--import", "tsx", path.join("components", "local", "keepAlive.ts"), "--", process.execPath, "-e", "process.exit(3)"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(failed.status).toBe(3);
    expect(failed.stderr).toMatch(/failed to start \(code 3\); not restarting/);
  });
});
