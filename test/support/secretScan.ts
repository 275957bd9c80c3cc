import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";

/**
 * Where a secret shows up in plain text: files (logs, Pulumi state) and the command lines of the
 * processes that ran on the machine. Tests expect both lists empty.
 *
 * Command lines are sampled WHILE the pipeline runs (`CommandLineSampler`, started before, read after):
 * a trainer or a `sh -c` that lives a few seconds is gone by the time a scan after the run looks. A
 * file or command line that cannot be read is a finding too (named by its path), never counted clean.
 */

function filesUnder(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  if (fs.statSync(root).isFile()) return [root];
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function assertScannable(secret: string): void {
  if (secret.length < 8) throw new Error("refusing to scan for a secret shorter than 8 characters: every match would be noise");
}

/** Files under `roots` that hold the secret, and `<path>: unreadable (<code>)` for each file that could not be read. */
export function filesContaining(secret: string, roots: readonly string[]): string[] {
  assertScannable(secret);
  const findings: string[] = [];
  for (const file of roots.flatMap(filesUnder)) {
    try {
      if (fs.readFileSync(file).includes(secret)) findings.push(file);
    } catch (err) {
      findings.push(`${file}: unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return findings;
}

/**
 * The sampling loop, run on a worker thread so a scan every `intervalMs` never waits for the test's
 * event loop (nor slows it): each distinct command line is posted once, with the pid that had it.
 * A process that exits between the directory listing and the read (ENOENT, ESRCH) is simply gone;
 * any other error is reported as unreadable.
 */
const samplerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const seen = new Set();
const unreadable = new Set();
let samples = 0;
let timer;
function sample() {
  for (const pid of fs.readdirSync("/proc")) {
    if (!/^\\d+$/.test(pid)) continue;
    const file = "/proc/" + pid + "/cmdline";
    try {
      const cmdline = fs.readFileSync(file, "utf8");
      if (cmdline !== "" && !seen.has(cmdline)) {
        seen.add(cmdline);
        parentPort.postMessage({ type: "seen", pid, cmdline });
      }
    } catch (err) {
      if (err.code !== "ENOENT" && err.code !== "ESRCH") {
        const entry = file + ": unreadable (" + (err.code || String(err)) + ")";
        if (!unreadable.has(entry)) {
          unreadable.add(entry);
          parentPort.postMessage({ type: "unreadable", entry });
        }
      }
    }
  }
  samples++;
}
function loop() {
  sample();
  timer = setTimeout(loop, workerData.intervalMs);
}
parentPort.on("message", (message) => {
  sample();
  parentPort.postMessage({ type: "flushed", samples });
  if (message === "stop") {
    clearTimeout(timer);
    parentPort.close();
  }
});
loop();
`;

type SamplerMessage = { type: "seen"; pid: string; cmdline: string } | { type: "unreadable"; entry: string } | { type: "flushed"; samples: number };

/** Samples `/proc/<pid>/cmdline` of every process every `intervalMs` from `start()` until `stop()`. */
export class CommandLineSampler {
  private readonly seen = new Map<string, string>();
  private readonly unreadable: string[] = [];
  private samples = 0;
  private stopped = false;
  private flushed: (() => void)[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on("message", (message: SamplerMessage) => {
      if (message.type === "seen") this.seen.set(message.cmdline, message.pid);
      else if (message.type === "unreadable") this.unreadable.push(message.entry);
      else {
        this.samples = message.samples;
        for (const resolve of this.flushed.splice(0)) resolve();
      }
    });
    worker.unref();
  }

  static start(intervalMs = 100): CommandLineSampler {
    return new CommandLineSampler(new Worker(samplerSource, { eval: true, workerData: { intervalMs } }));
  }

  private async sampleNow(message: "flush" | "stop"): Promise<void> {
    const done = new Promise<void>((resolve) => this.flushed.push(resolve));
    this.worker.postMessage(message);
    await done;
  }

  /** Ends the sampling after one last sample (idempotent). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.sampleNow("stop");
    await this.worker.terminate();
  }

  /**
   * `pid: command line` (the secret masked) of every command line seen since `start()` that holds the
   * secret, plus every `/proc` file that could not be read; takes one more sample first while running.
   */
  async containing(secret: string): Promise<string[]> {
    assertScannable(secret);
    if (!this.stopped) await this.sampleNow("flush");
    if (this.samples < 2) throw new Error(`the command-line sampler took ${this.samples} sample(s): it did not run while the pipeline did`);
    const hits = [...this.seen].filter(([cmdline]) => cmdline.includes(secret)).map(([cmdline, pid]) => `${pid}: ${cmdline.replaceAll("\0", " ").replaceAll(secret, "<secret>")}`);
    return [...hits, ...this.unreadable];
  }

  /** How many distinct command lines and samples so far (for a test's log line). */
  summary(): string {
    return `${this.seen.size} distinct command lines in ${this.samples} samples`;
  }
}
