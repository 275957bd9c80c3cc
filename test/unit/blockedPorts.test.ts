import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startDetached, stopProcessGroup, waitForHttp } from "../../components/local/supervisor";
import { MlflowClient } from "../../components/registry/mlflowClient";
import { httpFetch } from "../../components/shared/httpFetch";
import { startPortForward } from "../../components/shared/portForward";
import { trackingSchema } from "../../config/stackConfig";
import { type FakeMlflow, startFakeMlflow } from "../support/fakeMlflow";
import { processRunning } from "../support/processes";

/**
 * Ports the config schema accepts but Node's fetch refuses (the Fetch standard's "bad ports"): a
 * health probe or MLflow client built on fetch waits out its timeout and fails with `fetch failed`.
 * Real HTTP servers on such ports; every probe and client must reach them.
 */

/** Bad ports of the Fetch standard that the schema accepts (1024-65535); the first free one is used. */
const blockedPorts = [6000, 5061, 5060, 6665, 6666, 6667, 6668, 6669, 6697, 10080];

async function listenOnBlockedPort(handler: http.RequestListener): Promise<http.Server> {
  for (const port of blockedPorts) {
    const server = http.createServer(handler);
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (listening) return server;
  }
  throw new Error(`every blocked port is taken here: ${blockedPorts.join(", ")}`);
}

let server: http.Server;
let url = "";
/** How many health probes the server answered. */
let healthProbes = 0;
let mlflow: FakeMlflow | undefined;

beforeAll(async () => {
  server = await listenOnBlockedPort((req, res) => {
    if (req.url === "/health") {
      healthProbes += 1;
      res.writeHead(200, { "content-type": "text/plain", "x-probe": "a" }).end("OK");
    } else if (req.url === "/empty") res.writeHead(204).end();
    else res.writeHead(404).end("no");
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await mlflow?.close();
});

describe(`a server on a port of the Fetch standard's blocked list`, () => {
  it("is a port the config schema accepts, and one Node's fetch refuses (the bug this guards)", async () => {
    const port = Number(new URL(url).port);
    expect(trackingSchema.parse({ port }).port).toBe(port);
    await expect(fetch(`${url}/health`)).rejects.toThrow(/fetch failed/);
  });

  it("answers httpFetch with a standard Response: status, headers, body, and a null body for 204", async () => {
    const res = await httpFetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
    expect([res.status, res.ok, res.headers.get("x-probe"), await res.text()]).toEqual([200, true, "a", "OK"]);
    const empty = await httpFetch(`${url}/empty`);
    expect([empty.status, await empty.text()]).toEqual([204, ""]);
    expect((await httpFetch(`${url}/nothing`)).status).toBe(404);
  });

  it("httpFetch fails fast on a closed port and on a timeout, like fetch", async () => {
    await expect(httpFetch("http://127.0.0.1:9/")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      await expect(httpFetch(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("the local platform's health probe (waitForHttp) sees it healthy", async () => {
    // waitForHttp also watches the server's process: a stand-in that lives while it probes.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-blocked-"));
    const pid = startDetached({ command: ["sleep", "30"], cwd: dir, env: {}, logFile: path.join(dir, "log") }, path.join(dir, "pid"));
    try {
      await expect(waitForHttp(`${url}/health`, pid, 5000, path.join(dir, "log"))).resolves.toBeUndefined();
    } finally {
      await stopProcessGroup(pid, 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the driver's port-forward probe sees MLflow answer through it", async () => {
    const logged: string[] = [];
    const probesBefore = healthProbes;
    const forward = await startPortForward({ command: { file: "sleep", args: ["30"] }, healthUrl: `${url}/health`, timeoutMs: 5000, log: (line) => logged.push(line) });
    try {
      expect(healthProbes, "the probe reached the server on the blocked port").toBeGreaterThan(probesBefore);
      expect(logged.filter((line) => line.startsWith(`[port-forward] MLflow answers ${url}/health (`))).toHaveLength(1);
      expect(processRunning(forward.pid), "the port-forward command is left running").toBe(true);
    } finally {
      await forward.stop();
    }
    expect(processRunning(forward.pid), "stop() ends it").toBe(false);
  });

  it("the MLflow client (select phase, ChampionAlias) talks to MLflow on it", async () => {
    server.close();
    await new Promise<void>((resolve) => server.once("close", resolve));
    mlflow = await startFakeMlflow({ experimentName: "exp", runs: [], port: Number(new URL(url).port) });
    const client = new MlflowClient({ trackingUri: mlflow.url, retry: { attempts: 1 } });
    expect(await client.getExperimentByName("exp")).toMatchObject({ experiment_id: "1" });
    expect(await client.getExperimentByName("other")).toBeUndefined();
  });
});
