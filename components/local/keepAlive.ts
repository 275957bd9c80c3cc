/**
 * Keeps one server process running on the local platform: `node --import tsx keepAlive.ts -- CMD ARGS...`
 * starts CMD and starts it again whenever it dies (crash, OOM kill, an operator's `kill -9`), with a
 * back-off so a server that cannot start does not spin. SIGTERM/SIGINT are passed on and end the
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

function supervise(command: readonly string[]): void {
  const [exe, ...args] = command;
  if (exe === undefined) {
    console.error("keepAlive: expected -- COMMAND [ARGS...]");
    process.exit(2);
  }
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  const start = () => {
    const started = Date.now();
    child = spawn(exe, args, { stdio: "inherit" });
    child.on("error", (err) => console.error(`[keepAlive] could not start ${exe}: ${err.message}`));
    child.on("exit", (code, signal) => {
      if (stopping) process.exit(code ?? 0);
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
  const separator = process.argv.indexOf("--");
  supervise(separator < 0 ? [] : process.argv.slice(separator + 1));
}
