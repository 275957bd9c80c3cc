/**
 * driver/portForward.ts with a fake `kubectl` on PATH (a small node script that serves /health on the
 * forwarded port), so the command building and the whole lifecycle are exercised without a cluster.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { processAlive as alive } from "../support/processes";
import { parseStackConfig } from "../../config";
import { withTrackingReach } from "../../components/shared/portForward";
import { type PortForwardCommand, portForwardArgv, withPortForward } from "../../components/shared/portForward";
import { withTrackingAccess } from "../../driver/portForward";

const fakeKubectl = `#!${process.execPath}
const fs = require("node:fs");
const http = require("node:http");
const args = process.argv.slice(2);
const out = process.env.FAKE_KUBECTL_DIR;
fs.writeFileSync(out + "/args.json", JSON.stringify(args));
fs.writeFileSync(out + "/pid", String(process.pid));
process.on("SIGTERM", () => { fs.writeFileSync(out + "/stopped", "SIGTERM"); process.exit(0); });
const mode = process.env.FAKE_KUBECTL_MODE || "ok";
if (mode === "fail") { console.error('error: services "mlflow" not found'); process.exit(1); }
const local = Number(args.find((a) => /^[0-9]+:[0-9]+$/.test(a)).split(":")[0]);
const host = args[args.indexOf("--address") + 1];
if (mode === "hang") setInterval(() => {}, 1000);
else setTimeout(() => http.createServer((req, res) => { res.writeHead(req.url === "/health" ? 200 : 404); res.end("OK"); })
  .listen(local, host, () => console.log("Forwarding from " + host + ":" + local + " -> " + local)), mode === "slow" ? 800 : 0);
`;

let root = "";
let binDir = "";
let emptyBin = "";

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-portforward-"));
  binDir = path.join(root, "bin");
  emptyBin = path.join(root, "empty");
  fs.mkdirSync(binDir);
  fs.mkdirSync(emptyBin);
  fs.writeFileSync(path.join(binDir, "kubectl"), fakeKubectl, { mode: 0o755 });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A fresh record folder per run: what the fake kubectl saw and whether it was stopped. */
function run(mode: string) {
  const dir = fs.mkdtempSync(path.join(root, "run-"));
  const env = { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ""}`, FAKE_KUBECTL_DIR: dir, FAKE_KUBECTL_MODE: mode };
  return {
    env,
    args: () => JSON.parse(fs.readFileSync(path.join(dir, "args.json"), "utf8")) as string[],
    pid: () => Number(fs.readFileSync(path.join(dir, "pid"), "utf8")),
    stoppedBySigterm: () => fs.existsSync(path.join(dir, "stopped")),
  };
}

const lines: string[] = [];
const log = (line: string) => lines.push(line);

describe("portForwardArgv", () => {
  it("pins the stack's kube context and loopback, keeps the exported command", () => {
    expect(portForwardArgv("kubectl -n mlops port-forward svc/prod-tracking-mlflow-b3f1 5000:5000", "kind-dev")).toEqual({
      file: "kubectl",
      args: ["--context", "kind-dev", "-n", "mlops", "port-forward", "svc/prod-tracking-mlflow-b3f1", "5000:5000", "--address", "127.0.0.1"],
      namespace: "mlops",
    });
    expect(portForwardArgv("kubectl -n ml port-forward svc/x 80:80").args).toEqual(["-n", "ml", "port-forward", "svc/x", "80:80", "--address", "127.0.0.1"]);
  });

  it("refuses anything but a kubectl port-forward", () => {
    expect(() => portForwardArgv("rm -rf /")).toThrow("expected `kubectl ... port-forward ...` (rerun the init phase)");
    expect(() => portForwardArgv("kubectl -n mlops delete svc/x")).toThrow("expected `kubectl ... port-forward ...`");
  });
});

describe("withPortForward (fake kubectl on PATH)", () => {
  const commandFor = (port: number): PortForwardCommand => portForwardArgv(`kubectl -n mlops port-forward svc/mlflow ${port}:${port}`, "kind-dev");

  it("starts kubectl, waits for /health, runs the work while it answers, then stops kubectl", async () => {
    const port = await freePort();
    const r = run("slow");
    const status = await withPortForward(
      { command: commandFor(port), healthUrl: `http://127.0.0.1:${port}/health`, env: r.env, log },
      async () => (await fetch(`http://127.0.0.1:${port}/health`)).status,
    );
    expect(status).toBe(200);
    expect(r.args()).toEqual(["--context", "kind-dev", "-n", "mlops", "port-forward", "svc/mlflow", `${port}:${port}`, "--address", "127.0.0.1"]);
    expect(r.stoppedBySigterm()).toBe(true);
    expect(alive(r.pid())).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    expect(lines.some((l) => l.startsWith("[port-forward] MLflow answers"))).toBe(true);
  });

  it("stops kubectl when the work fails, and passes the error on", async () => {
    const port = await freePort();
    const r = run("ok");
    await expect(
      withPortForward({ command: commandFor(port), healthUrl: `http://127.0.0.1:${port}/health`, env: r.env, log }, async () => {
        throw new Error("selection failed");
      }),
    ).rejects.toThrow("selection failed");
    expect(r.stoppedBySigterm()).toBe(true);
    expect(alive(r.pid())).toBe(false);
  });

  it("says what kubectl printed and which namespace when it exits early", async () => {
    const port = await freePort();
    const r = run("fail");
    const work = async () => "never";
    await expect(withPortForward({ command: commandFor(port), healthUrl: `http://127.0.0.1:${port}/health`, env: r.env, log }, work)).rejects.toThrow(
      /exited \(code 1\) before MLflow answered .*error: services "mlflow" not found \(namespace mlops: `kubectl -n mlops get pods,svc`/,
    );
  });

  // 4 s, not less: the fake kubectl is a node process, and on a busy machine it may take seconds to start.
  it("gives up after the timeout, naming the URL and namespace, and kills kubectl", async () => {
    const port = await freePort();
    const r = run("hang");
    await expect(
      withPortForward({ command: commandFor(port), healthUrl: `http://127.0.0.1:${port}/health`, env: r.env, timeoutMs: 4000, log }, async () => "never"),
    ).rejects.toThrow(
      `MLflow did not answer http://127.0.0.1:${port}/health within 4 s through \`kubectl --context kind-dev -n mlops port-forward svc/mlflow ${port}:${port} --address 127.0.0.1\` (namespace mlops`,
    );
    expect(alive(r.pid())).toBe(false);
  });

  it("names kubectl when it is not on PATH", async () => {
    const port = await freePort();
    const env = { ...process.env, PATH: emptyBin };
    await expect(withPortForward({ command: commandFor(port), healthUrl: `http://127.0.0.1:${port}/health`, env, log }, async () => "never")).rejects.toThrow(
      "kubectl not found on PATH: install kubectl (the driver reaches MLflow in namespace mlops with `kubectl --context kind-dev -n mlops port-forward",
    );
  });
});

describe("withTrackingAccess", () => {
  it("runs the work directly on the local platform", async () => {
    const config = parseStackConfig({ "mlops:platform": "local" }, "Pulumi.t.yaml");
    await expect(withTrackingAccess(config, {}, async () => "direct")).resolves.toBe("direct");
  });

  it("on kubernetes, forwards with the tracking phase's outputs for the duration of the work", async () => {
    const port = await freePort();
    const r = run("ok");
    const config = parseStackConfig({ "mlops:platform": "kubernetes", "mlops:kubernetes": { namespace: "mlops", context: "kind-dev" } }, "Pulumi.t.yaml");
    const tracking = {
      portForwardCommand: { value: `kubectl -n mlops port-forward svc/prod-tracking-mlflow ${port}:${port}`, secret: false },
      driverTrackingUri: { value: `http://127.0.0.1:${port}`, secret: false },
    };
    // withTrackingAccess spawns with the process environment, as the driver does.
    const saved = { ...process.env };
    Object.assign(process.env, { PATH: r.env.PATH, FAKE_KUBECTL_DIR: r.env.FAKE_KUBECTL_DIR, FAKE_KUBECTL_MODE: "ok" });
    try {
      const status = await withTrackingAccess(config, tracking, async () => (await fetch(`http://127.0.0.1:${port}/health`)).status);
      expect(status).toBe(200);
    } finally {
      process.env = saved;
    }
    expect(r.args().slice(0, 2)).toEqual(["--context", "kind-dev"]);
    expect(alive(r.pid())).toBe(false);
  });

  it("asks for the init phase when the tracking stack has no portForwardCommand", async () => {
    const config = parseStackConfig({ "mlops:platform": "kubernetes" }, "Pulumi.t.yaml");
    await expect(withTrackingAccess(config, {}, async () => "never")).rejects.toThrow("phase init has not run yet (no output 'portForwardCommand')");
  });
});

describe("withTrackingReach (the dynamic providers' way: ChampionAlias, MlflowAccessGrant)", () => {
  it("runs the work directly without a port-forward command", async () => {
    await expect(withTrackingReach({ trackingUri: "http://127.0.0.1:1" }, async () => "direct")).resolves.toBe("direct");
  });

  it("runs the command on the given context for the duration of the work, silently", async () => {
    const port = await freePort();
    const r = run("ok");
    const saved = { ...process.env };
    Object.assign(process.env, { PATH: r.env.PATH, FAKE_KUBECTL_DIR: r.env.FAKE_KUBECTL_DIR, FAKE_KUBECTL_MODE: "ok" });
    const printed = vi.spyOn(console, "log");
    try {
      const reach = { trackingUri: `http://127.0.0.1:${port}/`, portForwardCommand: `kubectl -n mlops port-forward svc/mlflow ${port}:${port}`, kubeContext: "kind-dev" };
      const status = await withTrackingReach(reach, async () => (await fetch(`http://127.0.0.1:${port}/health`)).status);
      expect(status).toBe(200);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      process.env = saved;
      printed.mockRestore();
    }
    expect(r.args().slice(0, 2)).toEqual(["--context", "kind-dev"]);
    expect(alive(r.pid())).toBe(false);
  });
});
