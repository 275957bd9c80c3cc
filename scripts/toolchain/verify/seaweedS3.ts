// Starts the SeaweedFS `weed` built by `scripts/toolchain.sh seaweedfs` as an all-in-one S3 server
// (master + volume + filer + S3 gateway) on loopback ports, with its data in a given folder.
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export interface RunningS3 {
  readonly endpoint: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", () => r()));
}

/** Resolves once the S3 gateway answers ListBuckets; rejects (with the log's tail) after `timeoutMs`. */
export async function startSeaweedS3(weed: string, dataDir: string, timeoutMs = 120_000): Promise<RunningS3> {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await Promise.all(Array.from({ length: 8 }, freePort));
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, "weed.log");
  const log = fs.openSync(logFile, "a");
  const child = spawn(
    weed,
    [
      "server",
      `-dir=${dataDir}`,
      "-ip=127.0.0.1",
      "-ip.bind=127.0.0.1",
      `-master.port=${master}`,
      `-master.port.grpc=${masterGrpc}`,
      "-master.volumeSizeLimitMB=64",
      `-volume.port=${volume}`,
      `-volume.port.grpc=${volumeGrpc}`,
      "-volume.max=4",
      "-filer",
      `-filer.port=${filer}`,
      `-filer.port.grpc=${filerGrpc}`,
      "-s3",
      `-s3.port=${s3}`,
      `-s3.port.grpc=${s3Grpc}`,
      "-s3.port.iceberg=0",
    ],
    { stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  const endpoint = `http://127.0.0.1:${s3}`;
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited(child);
    clearTimeout(timer);
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const answered = await fetch(`${endpoint}/`).then(
      (r) => r.status < 500,
      () => false,
    );
    if (answered) return { endpoint, logFile, stop };
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  const tail = fs.readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
  throw new Error(`weed server did not serve S3 on ${endpoint} within ${timeoutMs / 1000}s; log tail:\n${tail}`);
}
