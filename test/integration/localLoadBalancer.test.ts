import { type ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/pipelineStack";

/**
 * The local load balancer as a real process in front of real replica processes (test/support/fakeReplica.ts)
 * on loopback: the faults real clients and replicas cause, each done for real (raw sockets, SIGKILL).
 */

const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** Starts `script args` with tsx and resolves with the port its first "listening"/"load balancer on" line names. */
function startNode(script: string, args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${output}`)), 20_000);
    child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    child.stdout?.on("data", (c: Buffer) => {
      output += c.toString();
      const match = /(?:listening |http:\/\/127\.0\.0\.1:)(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on("exit", () => reject(new Error(`${script} exited: ${output}`)));
  });
}

const replica = (id: string) => startNode(path.join("test", "support", "fakeReplica.ts"), ["0", id]);
const balancer = (ports: readonly number[], extra: readonly string[] = []) =>
  startNode(path.join("components", "local", "loadBalancer.ts"), ["--listen", "127.0.0.1:0", ...ports.flatMap((p) => ["--upstream", `http://127.0.0.1:${p}`]), ...extra]);

const url = (port: number, p: string) => `http://127.0.0.1:${port}${p}`;
const setMode = (port: number, mode: string) => fetch(url(port, `/mode/${mode}`), { method: "POST" });
const count = async (port: number) => ((await (await fetch(url(port, "/count"))).json()) as { invocations: number }).invocations;
const invoke = (port: number, body = '{"x":1}') => fetch(url(port, "/invocations"), { method: "POST", headers: { "content-type": "application/json" }, body });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("local load balancer against real replica processes", () => {
  it("spreads requests over the ready replicas and retries only a refused connection", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const dead = await replica("dead");
    dead.child.kill("SIGKILL");
    await sleep(200);
    const lb = await balancer([r0.port, r1.port, dead.port]);
    for (let i = 0; i < 12; i++) {
      const res = await invoke(lb.port, `{"n":${i}}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { echo: string }).echo).toBe(`{"n":${i}}`);
    }
    const hits = [await count(r0.port), await count(r1.port)];
    expect(hits[0]).toBeGreaterThanOrEqual(4);
    expect(hits[1]).toBeGreaterThanOrEqual(4);
    expect(hits[0] + hits[1]).toBe(12);
    const health = (await (await fetch(url(lb.port, "/lb/health"))).json()) as { ready: boolean; upstreams: { up: boolean }[] };
    expect(health.ready).toBe(true);
    expect(health.upstreams.map((u) => u.up)).toEqual([true, true, false]);
  });

  it("survives clients that abort mid-body and mid-wait", async () => {
    const r0 = await replica("r0");
    const lb = await balancer([r0.port], ["--upstream-timeout-ms", "3000"]);
    for (let i = 0; i < 5; i++) {
      const socket = net.connect(lb.port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write("POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"x\":");
      await sleep(50);
      socket.destroy();
    }
    await setMode(r0.port, "hang");
    const waiting = fetch(url(lb.port, "/invocations"), { method: "POST", body: "{}", signal: AbortSignal.timeout(300) }).catch((e: Error) => e);
    expect(await waiting).toBeInstanceOf(Error);
    await setMode(r0.port, "ok");
    await waitUntil("the replica to be ready again", async () => (await fetch(url(lb.port, "/lb/health"))).status === 200);
    expect(lb.child.exitCode).toBeNull();
    expect((await invoke(lb.port)).status).toBe(200);
  });

  it("answers 502 at once when a replica dies mid-response, and never replays the request", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await balancer([r0.port, r1.port]);
    await setMode(r0.port, "half");
    await setMode(r1.port, "half");
    const started = Date.now();
    const pending = invoke(lb.port);
    // Whichever replica got it has counted it: kill that process while its answer is half written.
    let victim: { child: ChildProcess; port: number } | undefined;
    await waitUntil("the request to reach a replica", async () => {
      victim = (await count(r0.port)) === 1 ? r0 : (await count(r1.port)) === 1 ? r1 : undefined;
      return victim !== undefined;
    });
    const other = victim === r0 ? r1 : r0;
    victim?.child.kill("SIGKILL");
    const res = await pending;
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: string }).error).toMatch(/mid-response.*not retried/);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await count(other.port)).toBe(0);
  });

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
    const none = await invoke(lb.port);
    expect(none.status).toBe(503);
    expect(none.headers.get("retry-after")).toBe("1");
    await setMode(r0.port, "ok");
    await setMode(r1.port, "ok");
    await waitUntil("both replicas back", async () => ((await (await fetch(url(lb.port, "/lb/health"))).json()) as { upstreams: { up: boolean }[] }).upstreams.every((u) => u.up));
    for (let i = 0; i < 10; i++) expect((await invoke(lb.port)).status).toBe(200);
    expect(await count(r1.port)).toBe(5);
  });
});
