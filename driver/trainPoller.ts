/**
 * Trial progress while the train phase's `pulumi up` waits for its workers: every few seconds one
 * `runs/search` for the study run (programs/trainProgress.ts) and one progress line. MLflow being slow
 * or not answering is never an error here; the workers, not this poller, decide whether the phase fails.
 * On kubernetes MLflow is read through the driver's own `kubectl port-forward` (driver/portForward.ts).
 */
import type { OutputMap } from "@pulumi/pulumi/automation";
import { MlflowClient } from "../components/registry/mlflowClient";
import { studyIdFor } from "../components/shared/study";
import type { StackConfig } from "../config";
import { formatTrainProgress, readTrainProgress, type TrainProgress } from "../programs/trainProgress";
import { startPortForward } from "../components/shared/portForward";
import { trackingPortForward } from "./portForward";

/** At most this long between two progress lines (the issue asks for a refresh at least every 10 s). */
export const defaultPollIntervalMs = 10_000;

export interface TrainPollerOptions {
  /** The study's progress, undefined before a worker reported; may throw while MLflow is not up. */
  readonly read: () => Promise<TrainProgress | undefined>;
  readonly write: (line: string) => void;
  readonly intervalMs?: number;
  /** Milliseconds; tests pass a fake clock. */
  readonly now?: () => number;
  /** Called once by `stop`, after the last read: releases what the reads used (a port-forward). */
  readonly close?: () => Promise<void>;
}

export interface TrainPoller {
  /** Stops polling and waits for a read in flight; writes nothing afterwards. Safe to call twice. */
  stop(): Promise<void>;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n")[0];

/** Starts polling now (first line after one interval); the caller stops it in a `finally`. */
export function startTrainPoller(opts: TrainPollerOptions): TrainPoller {
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? defaultPollIntervalMs;
  const started = now();
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  // A failing read is said once, not every interval, until MLflow answers again.
  let lastError: string | undefined;

  const tick = async (): Promise<void> => {
    let line: string | undefined;
    try {
      const progress = await opts.read();
      lastError = undefined;
      line = formatTrainProgress(progress, (now() - started) / 1000);
    } catch (err) {
      const message = firstLine(err);
      if (message !== lastError) line = `trials: MLflow not answering yet (${message}); still waiting`;
      lastError = message;
    }
    if (line !== undefined && !stopped) opts.write(line);
  };
  // A fixed rate, not a pause after each read: a slow MLflow must not stretch the interval. A tick
  // that comes while a read is still out is skipped.
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    inFlight = tick().finally(() => {
      busy = false;
    });
  }, intervalMs);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      stopping ??= inFlight.then(() => opts.close?.());
      return stopping;
    },
  };
}

/**
 * The reader for one stack's study: the study id is the plan's (content-addressed, so known before the
 * workers start); the experiment is looked up until `prepare` has created it. One attempt per request and
 * a short timeout: the next interval is the retry.
 */
export function studyProgressReader(config: StackConfig, stack: string, trackingUri: string, password?: string): () => Promise<TrainProgress | undefined> {
  const studyId = studyIdFor(stack, config.training);
  const client = new MlflowClient({
    trackingUri,
    username: password ? config.tracking.auth.adminUser : undefined,
    password,
    retry: { attempts: 1 },
    timeoutMs: 4_000,
  });
  let experimentId: string | undefined;
  return async () => {
    experimentId ??= (await client.getExperimentByName(config.training.experimentName))?.experiment_id;
    return experimentId === undefined ? undefined : readTrainProgress(client, experimentId, studyId);
  };
}

/** Something a read needs open first, such as a port-forward. */
export interface Connection {
  stop(): Promise<void>;
}

/**
 * `read` through a connection: opened by the first read, dropped after a failed read so the next one
 * opens it afresh (`kubectl port-forward` exits when its pod goes away), closed by `close`. A failed
 * open is a failed read, so the poller says "not answering" instead of failing the phase.
 */
export function readThrough<T>(read: () => Promise<T>, open: () => Promise<Connection>): { read: () => Promise<T>; close: () => Promise<void> } {
  let connection: Promise<Connection> | undefined;
  let closed = false;
  const drop = async () => {
    const current = connection;
    connection = undefined;
    await current?.then(
      (c) => c.stop(),
      () => undefined,
    );
  };
  return {
    async read() {
      if (closed) throw new Error("the progress reader is closed");
      connection ??= open();
      try {
        await connection;
        return await read();
      } catch (err) {
        await drop();
        throw err;
      }
    },
    async close() {
      closed = true;
      await drop();
    },
  };
}

/** How long one attempt to open the port-forward may take: with the read's 4 s it stays inside one interval. */
export const forwardOpenTimeoutMs = 5_000;

/**
 * The poller's options for the train phase of `stack`: the study's reader at the tracking phase's
 * `driverTrackingUri`, on kubernetes through a port-forward of its own (stopped by the poller's `stop`,
 * before select opens its own on the same local port).
 */
export function trainProgressSource(
  config: StackConfig,
  stack: string,
  tracking: OutputMap,
  password: string | undefined,
  log: (line: string) => void,
): Pick<TrainPollerOptions, "read" | "close"> | undefined {
  const trackingUri = tracking.driverTrackingUri?.value;
  if (typeof trackingUri !== "string") return undefined;
  const read = studyProgressReader(config, stack, trackingUri, password);
  if (config.platform !== "kubernetes") return { read };
  const through = readThrough(read, async () => {
    // Resolved here, not up front: a tracking stack without the command is one "not answering" line.
    const forward = trackingPortForward(config, tracking);
    if (!forward) throw new Error("no port-forward to MLflow for this platform");
    return startPortForward({ ...forward, timeoutMs: forwardOpenTimeoutMs, log });
  });
  return {
    read: through.read,
    close: async () => {
      await through.close();
      log("[port-forward] stopped");
    },
  };
}
