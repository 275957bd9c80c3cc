/**
 * Trial progress while the train phase's `pulumi up` waits for its workers: every few seconds one
 * `runs/search` for the study run (programs/trainProgress.ts) and one progress line. MLflow being slow
 * or not answering is never an error here; the workers, not this poller, decide whether the phase fails.
 */
import { MlflowClient } from "../components/registry/mlflowClient";
import { studyIdFor } from "../components/shared/study";
import type { StackConfig } from "../config";
import { formatTrainProgress, readTrainProgress, type TrainProgress } from "../programs/trainProgress";

/** At most this long between two progress lines (the issue asks for a refresh at least every 10 s). */
export const defaultPollIntervalMs = 10_000;

export interface TrainPollerOptions {
  /** The study's progress, undefined before a worker reported; may throw while MLflow is not up. */
  readonly read: () => Promise<TrainProgress | undefined>;
  readonly write: (line: string) => void;
  readonly intervalMs?: number;
  /** Milliseconds; tests pass a fake clock. */
  readonly now?: () => number;
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
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
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
