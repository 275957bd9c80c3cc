import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readLoadBalancerTemplate, renderLoadBalancerConfig, upstreamServers, upstreamsPath } from "../../components/docker/loadBalancerConfig";
import {
  abortMidBody,
  freePort,
  invocationCount as count,
  invoke,
  localUrl as url,
  replicaThatGotIt,
  setMode,
  type Started,
  startReplica as replica,
  stopStartedProcesses,
  waitUntil,
} from "../support/replicaFixtures";
import { skipOrFailInCI } from "../support/skips";

/**
 * The shipped nginx config (images/loadbalancer) in a real nginx container, host networking, in front of
 * real replica processes on loopback: the same faults as the local balancer's test. nginx OSS checks
 * replicas passively only (max_fails/fail_timeout), so "taken out" means after one failed attempt.
 */

const docker = (...args: string[]) => spawnSync("docker", args, { encoding: "utf8", timeout: 60_000 });

function nginxImage(): string | undefined {
  const listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}");
  if (listed.status !== 0) return undefined;
  const images = listed.stdout.trim().split("\n");
  return images.find((i) => i.startsWith("nginx:")) ?? images.find((i) => i.startsWith("local/nginx:"));
}

const image = nginxImage();
const unavailable =
  docker("version", "--format", "{{.Server.Version}}").status !== 0
    ? "no Docker engine answers (start one with `bash scripts/docker/engine.sh start`)"
    : image === undefined
      ? "no nginx image on the engine (nginx:* or the stand-in local/nginx:* from scripts/docker/base-image.sh nginx)"
      : undefined;
const skipped = skipOrFailInCI("the nginx load-balancer test", unavailable);

const containers: string[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nginx-lb-"));
afterAll(() => {
  for (const name of containers) docker("rm", "-f", name);
  stopStartedProcesses();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** nginx with the shipped template over `replicas`, on a free loopback port; resolves once /lb/health answers. */
async function nginx(replicas: readonly Started[], upstreamTimeoutSeconds = 60): Promise<number> {
  const port = await freePort();
  const file = path.join(dir, `${port}.conf`);
  const config = renderLoadBalancerConfig(readLoadBalancerTemplate(), port, replicas.length, { upstreamTimeoutSeconds });
  fs.writeFileSync(file, config, { mode: 0o644 });
  // The shipped config includes the upstream list its entrypoint keeps current; here the list is fixed.
  const upstreams = path.join(dir, `${port}.upstreams.conf`);
  fs.writeFileSync(upstreams, `${upstreamServers(replicas.map((r) => ({ host: "127.0.0.1", port: r.port })))}\n`, { mode: 0o644 });
  const name = `mlops-test-nginx-${process.pid}-${port}`;
  const run = docker(
    "run",
    "-d",
    "--rm",
    "--name",
    name,
    "--network",
    "host",
    "-v",
    `${file}:/etc/nginx/conf.d/default.conf:ro`,
    "-v",
    `${upstreams}:${upstreamsPath}:ro`,
    image as string,
  );
  expect(run.status, run.stderr).toBe(0);
  containers.push(name);
  await waitUntil(`nginx on ${port}`, async () => (await fetch(url(port, "/lb/health"))).status === 200, 30_000);
  return port;
}

describe.skipIf(skipped)("nginx load balancer (real container) against real replica processes", () => {
  it("spreads POSTs over the replicas, moves on only from a refused connection, and survives aborted clients", async () => {
    const [r0, r1, dead] = await Promise.all([replica("r0"), replica("r1"), replica("dead")]);
    dead.child.kill("SIGKILL");
    const lb = await nginx([r0, r1, dead]);
    await abortMidBody(lb, 5);
    for (let i = 0; i < 12; i++) {
      const res = await invoke(lb, `{"n":${i}}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { echo: string }).echo).toBe(`{"n":${i}}`);
    }
    expect((await count(r0.port)) + (await count(r1.port))).toBe(12);
    expect(await count(r0.port)).toBeGreaterThanOrEqual(4);
  });

  it("answers 502 quickly when a replica dies before answering, never replaying the POST", async () => {
    const replicas = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await nginx(replicas);
    for (const r of replicas) await setMode(r.port, "hang");
    const pending = invoke(lb);
    const { victim, others } = await replicaThatGotIt(replicas);
    const killedAt = Date.now();
    victim.child.kill("SIGKILL");
    const res = await pending;
    expect(res.status).toBe(502);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    for (const other of others) expect(await count(other.port)).toBe(0);
  });

  it("ends the client's response quickly, never as a complete answer, when a replica dies mid-response", async () => {
    const replicas = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await nginx(replicas);
    for (const r of replicas) await setMode(r.port, "half");
    const pending = invoke(lb).then(
      async (res) => ({ status: res.status, body: await res.text().catch((e: Error) => e) }),
      (e: Error) => ({ status: 0, body: e }),
    );
    const { victim, others } = await replicaThatGotIt(replicas);
    const killedAt = Date.now();
    victim.child.kill("SIGKILL");
    const outcome = await pending;
    // nginx has passed the replica's status line on already: the client sees the body cut short.
    expect(outcome.status === 502 || outcome.body instanceof Error).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    for (const other of others) expect(await count(other.port)).toBe(0);
  });

  it("gives a hung replica's POST 504 after proxy_read_timeout, without replaying it", async () => {
    const replicas = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await nginx(replicas, 2);
    for (const r of replicas) await setMode(r.port, "hang");
    const started = Date.now();
    const res = await invoke(lb);
    const seconds = (Date.now() - started) / 1000;
    expect(res.status).toBe(504);
    expect(seconds).toBeGreaterThanOrEqual(1.9);
    expect(seconds).toBeLessThan(6);
    expect((await count(replicas[0]?.port ?? 0)) + (await count(replicas[1]?.port ?? 0))).toBe(1);
  });

  it("takes a replica answering 503 out after one GET meets it, puts it back after fail_timeout, and /lb/health follows readiness", async () => {
    const [r0, r1] = await Promise.all([replica("r0"), replica("r1")]);
    const lb = await nginx([r0, r1]);
    await setMode(r1.port, "loading");
    // A GET is idempotent: nginx moves its 503 on to r0 and counts a failed attempt against r1.
    for (let i = 0; i < 4; i++) expect((await fetch(url(lb, "/version"))).status).toBe(200);
    // For the next fail_timeout (5 s) r1 gets nothing: every POST goes to r0.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await invoke(lb)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(await count(r1.port)).toBe(0);
    expect(await count(r0.port)).toBe(10);
    await setMode(r0.port, "loading");
    await waitUntil("/lb/health to fail with no replica ready", async () => (await fetch(url(lb, "/lb/health"))).status >= 500);
    await setMode(r0.port, "ok");
    await setMode(r1.port, "ok");
    await waitUntil("/lb/health to answer 200 again", async () => (await fetch(url(lb, "/lb/health"))).status === 200, 15_000);
    // After fail_timeout (5 s) both replicas get requests again.
    await waitUntil(
      "r1 to get requests again",
      async () => {
        const before = await count(r1.port);
        for (let i = 0; i < 4; i++) await invoke(lb);
        return (await count(r1.port)) > before;
      },
      15_000,
    );
  });
});
