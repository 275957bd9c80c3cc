/**
 * Keeps one server process running on the local platform: `node --import tsx keepAlive.ts -- CMD ARGS...`
 * starts CMD and starts it again whenever it dies (crash, OOM kill, an operator's `kill -9`), with a
 * back-off so a server that keeps dying does not spin. A first run that dies within a minute is a
 * start failure and is not retried. SIGTERM/SIGINT are passed on and end the
 * supervision: the child drains and exits, then so does this process, with the child's code.
 * LocalProcess stops the whole process group, so neither can outlive a `pulumi destroy`.
 */
import { type ChildProcess, spawn } from "node:child_process";

/** Back-off before restart number `failures + 1` in a row: 0.5 s doubling up to 30 s. */
export function restartDelayMs(failuresInARow: number): number {
  return Math.min(30_000, 500 * 2 ** failuresInARow);
}

/** A child that ran this long before dying was healthy: its next restart starts the back-off afresh. */
const healthyRunMs = 60_000;

/** `[--start-failure-seconds N] -- CMD ARGS...`: N (default 60) is how soon a first run's death counts as a start failure. */
export function parseKeepAliveArgs(argv: readonly string[]): { command: string[]; startFailureMs: number } {
  const separator = argv.indexOf("--");
  const options = separator < 0 ? argv : argv.slice(0, separator);
  let startFailureMs = healthyRunMs;
  for (let i = 0; i < options.length; i += 2) {
    const value = Number(options[i + 1]);
    if (options[i] !== "--start-failure-seconds" || !Number.isFinite(value) || value < 0)
      throw new Error(`keepAlive: unexpected ${options.slice(i, i + 2).join(" ")}; expected [--start-failure-seconds N] -- COMMAND [ARGS...]`);
    startFailureMs = value * 1000;
  }
  return { command: separator < 0 ? [] : argv.slice(separator + 1), startFailureMs };
}

function supervise(command: readonly string[], startFailureMs: number): void {
  const [exe, ...args] = command;
  if (exe === undefined) {
    console.error("keepAlive: expected -- COMMAND [ARGS...]");
    process.exit(2);
  }
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let runs = 0;
  const start = () => {
    const started = Date.now();
    runs++;
    child = spawn(exe, args, { stdio: "inherit" });
    child.on("error", (err) => console.error(`[keepAlive] could not start ${exe}: ${err.message}`));
    child.on("exit", (code, signal) => {
      if (stopping) process.exit(code ?? 0);
      // A first run that dies early is a start failure (bad config, missing model): end here, so the
      // deploy waiting for it reports the log at once instead of waiting out its start timeout.
      if (runs === 1 && Date.now() - started < startFailureMs) {
        console.error(`[keepAlive] ${exe} failed to start (${signal ?? `code ${code}`}); not restarting`);
        process.exit(code ?? 1);
      }
      if (Date.now() - started > healthyRunMs) failures = 0;
      const delay = restartDelayMs(failures++);
      console.error(`[keepAlive] ${exe} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) start();
      }, delay);
    });
  };
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
    // The server treats repeated SIGTERMs as one, so a group-wide signal plus this one drains once.
    child.kill(signal);
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  start();
}

if (require.main === module) {
  try {
    const { command, startFailureMs } = parseKeepAliveArgs(process.argv.slice(2));
    supervise(command, startFailureMs);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
