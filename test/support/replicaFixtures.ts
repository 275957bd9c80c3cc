import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { repoRoot } from "./pipelineStack";

/**
 * Real replica processes (test/support/fakeReplica.ts) and a real local balancer process for the
 * load-balancer fault tests: started with tsx, found by the port their first line names.
 */

const children: ChildProcess[] = [];

/** Kills every process these helpers started (call in afterAll). */
export function stopStartedProcesses(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

export interface Started {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Starts `script args` with tsx and resolves with the port its "listening N"/"http://127.0.0.1:N" line names. */
export function startNode(script: string, args: readonly string[]): Promise<Started> {
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

export const startReplica = (id: string) => startNode(path.join("test", "support", "fakeReplica.ts"), ["0", id]);

export const localUrl = (port: number, p: string) => `http://127.0.0.1:${port}${p}`;
export const setMode = (port: number, mode: "ok" | "loading" | "draining" | "hang" | "half") => fetch(localUrl(port, `/mode/${mode}`), { method: "POST" });
export const invocationCount = async (port: number) => ((await (await fetch(localUrl(port, "/count"))).json()) as { invocations: number }).invocations;
export const invoke = (port: number, body = '{"x":1}') => fetch(localUrl(port, "/invocations"), { method: "POST", headers: { "content-type": "application/json" }, body });
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await pause(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Which of the replicas has counted the one request sent so far (the other is its would-be replay target). */
export async function replicaThatGotIt(replicas: readonly Started[]): Promise<{ victim: Started; others: Started[] }> {
  let victim: Started | undefined;
  await waitUntil("the request to reach a replica", async () => {
    for (const r of replicas) if ((await invocationCount(r.port)) === 1) victim = r;
    return victim !== undefined;
  });
  const found = victim as Started;
  return { victim: found, others: replicas.filter((r) => r !== found) };
}

/** Opens raw connections that send half a POST body and vanish: `count` clients aborting mid-body. */
export async function abortMidBody(port: number, count: number): Promise<void> {
  const net = await import("node:net");
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write('POST /invocations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"x":');
    await pause(50);
    socket.destroy();
  }
}

/** A port free right now on 127.0.0.1 (the kernel's pick; released before returning). */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
