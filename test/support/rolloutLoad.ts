/**
 * "0 failed of at least 200 requests during a rollout", measured the same way on every platform.
 *
 * `runRolloutLoad` starts the deploy and, at the same moment, `clients` (at least 4) concurrent
 * clients sending requests through the stack's balancer. It counts a request only if it was sent
 * while the new version was rolling out:
 * - the window opens when the deploy phase announces the version it rolls out (its intro line,
 *   `[k/n deploy] ... (version V) ...`), as first seen by the watcher: requests sent before it (while
 *   select ran) are not counted;
 * - the window closes when every replica serves V, judged by `servedVersions` (the replicas' own
 *   `/version` answers). Counted are the requests sent no later than the start of the last check
 *   that still found a replica not serving V: each counted request went out while the rollout was
 *   provably not over.
 * The load stops once every replica serves V, or when its own bound (`maxRequests` sent, or
 * `maxSeconds`) or the deploy's end without a finished rollout stops it first; `rolloutProblems`
 * names each of those as a problem, with fewer than `minCounted` counted requests and every failed
 * request (counted or not: a failure outside the window is still a failure).
 */

export interface RolloutDeploy<T> {
  /** What the deploy printed so far (stdout and stderr). */
  output(): string;
  readonly done: Promise<T>;
}

/** One `/version` answer: which replica answered and the model version it serves. */
export interface ServedVersion {
  readonly replica: string;
  readonly version: string;
}

export interface RolloutLoadArgs<T> {
  /** Starts the deploy (the driver's `--phase deploy`); called once, when the load starts. */
  readonly startDeploy: () => RolloutDeploy<T>;
  /** One request of the load: resolves to undefined when it succeeded, else what went wrong. */
  readonly send: (client: number) => Promise<string | undefined>;
  /** The replicas' `/version` answers now (asking through the balancer may return one replica several times). */
  readonly servedVersions: () => Promise<readonly ServedVersion[]>;
  /** How many distinct replicas must answer V for the rollout to be over. */
  readonly replicas: number;
  readonly clients?: number;
  readonly minCounted?: number;
  /** Bound: requests sent in all. */
  readonly maxRequests?: number;
  /** Bound: seconds from the deploy's start. */
  readonly maxSeconds?: number;
  /** Each client's pause between two requests (keeps a 2-core machine able to run the rollout itself). */
  readonly pauseMs?: number;
  /** Pause between two checks of the deploy's output and the replicas' versions. */
  readonly checkEveryMs?: number;
  /** After the deploy exited, how long the replicas may take to all answer V (old ones still draining). */
  readonly settleSeconds?: number;
  /** Prefix of the one summary line printed. */
  readonly label?: string;
}

/** What ended the load; only "rollout" proves the claim. */
export type LoadEnd = "rollout" | "request bound" | "time bound" | "no rollout" | "rollout unfinished";

const endings: Record<LoadEnd, string> = {
  rollout: "every replica serves the new version",
  "request bound": "its own request bound (maxRequests) was reached",
  "time bound": "its own time bound (maxSeconds) was reached",
  "no rollout": "the deploy ended without announcing a version to roll out",
  "rollout unfinished": "the deploy ended and the replicas did not all serve the new version within settleSeconds",
};

export interface RolloutFailure {
  /** Seconds from the deploy's start when the request was sent. */
  readonly at: number;
  readonly counted: boolean;
  readonly detail: string;
}

export interface RolloutLoad<T> {
  readonly deploy: T;
  /** When the deploy and the load started (epoch ms); the times below are seconds from it. */
  readonly startedAt: number;
  /** The version the deploy announced (undefined if it never did). */
  readonly target?: string;
  readonly endedBy: LoadEnd;
  readonly clients: number;
  readonly minCounted: number;
  /** Requests sent in all, and those inside the rollout window. */
  readonly sent: number;
  readonly counted: number;
  /** The window, in seconds from the deploy's start (undefined while not opened / not closed). */
  readonly windowOpened?: number;
  readonly windowClosed?: number;
  readonly failures: readonly RolloutFailure[];
  /** Send times (seconds from the deploy's start) of the counted requests, for checks of the rules. */
  readonly countedAt: readonly number[];
  /** Send times of every request. */
  readonly sentAt: readonly number[];
}

/** The version the deploy phase's intro line names: `[4/5 deploy] 2 replica(s) of models:/m@a (version 7) behind ...`. */
export function announcedVersion(output: string): string | undefined {
  return /^\[\d+\/\d+ deploy\] .*\(version ([^)\s]+)\)/m.exec(output)?.[1];
}

/** Whether the answers show `replicas` distinct replicas and every answer is `target`. */
export function allServe(answers: readonly ServedVersion[], target: string, replicas: number): boolean {
  return answers.length > 0 && answers.every((a) => a.version === target) && new Set(answers.map((a) => a.replica)).size >= replicas;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runRolloutLoad<T>(args: RolloutLoadArgs<T>): Promise<RolloutLoad<T>> {
  const clients = args.clients ?? 4;
  if (clients < 4) throw new Error(`rolloutLoad: clients = ${clients}, expected at least 4 concurrent clients`);
  const minCounted = args.minCounted ?? 200;
  const maxRequests = args.maxRequests ?? 20_000;
  const maxMs = (args.maxSeconds ?? 900) * 1000;
  const pauseMs = args.pauseMs ?? 0;
  const checkEveryMs = args.checkEveryMs ?? 250;
  const settleMs = (args.settleSeconds ?? 60) * 1000;

  const started = Date.now();
  const seconds = (t: number) => (t - started) / 1000;
  const deploy = args.startDeploy();
  let deployResult: { value: T } | undefined;
  let deployEndedAt = 0;
  const deployDone = deploy.done.then((value) => {
    deployResult = { value };
    deployEndedAt = Date.now();
    return value;
  });

  let endedBy: LoadEnd | undefined;
  const stop = (why: LoadEnd) => {
    endedBy ??= why;
  };
  const sends: { at: number; failure?: string }[] = [];

  const client = async (index: number) => {
    while (endedBy === undefined) {
      if (sends.length >= maxRequests) return stop("request bound");
      if (Date.now() - started >= maxMs) return stop("time bound");
      const record: { at: number; failure?: string } = { at: Date.now() };
      sends.push(record);
      try {
        const failure = await args.send(index);
        if (failure !== undefined) record.failure = failure;
      } catch (err) {
        record.failure = err instanceof Error ? `${err.message}${err.cause ? ` (${String(err.cause)})` : ""}` : String(err);
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };

  let target: string | undefined;
  let opened: number | undefined;
  let lastNotOver: number | undefined;
  let closed: number | undefined;
  const watch = async () => {
    while (endedBy === undefined) {
      const checkStarted = Date.now();
      if (target === undefined) {
        target = announcedVersion(deploy.output());
        if (target !== undefined) opened = checkStarted;
      }
      if (target !== undefined) {
        const answers = await args.servedVersions().catch(() => [] as ServedVersion[]);
        if (allServe(answers, target, args.replicas)) {
          closed = checkStarted;
          return stop("rollout");
        }
        lastNotOver = checkStarted;
      }
      if (deployResult !== undefined) {
        if (target === undefined) return stop("no rollout");
        if (Date.now() - deployEndedAt > settleMs) return stop("rollout unfinished");
      }
      if (Date.now() - started >= maxMs) return stop("time bound");
      await sleep(checkEveryMs);
    }
  };

  await Promise.all([watch(), ...Array.from({ length: clients }, (_, i) => client(i))]);
  const value = await deployDone;
  const inWindow = (at: number) => opened !== undefined && lastNotOver !== undefined && at >= opened && at <= lastNotOver;
  const result: RolloutLoad<T> = {
    deploy: value,
    startedAt: started,
    ...(target === undefined ? {} : { target }),
    endedBy: endedBy ?? "rollout",
    clients,
    minCounted,
    sent: sends.length,
    counted: sends.filter((s) => inWindow(s.at)).length,
    ...(opened === undefined ? {} : { windowOpened: seconds(opened) }),
    ...(closed === undefined ? {} : { windowClosed: seconds(closed) }),
    failures: sends.filter((s) => s.failure !== undefined).map((s) => ({ at: seconds(s.at), counted: inWindow(s.at), detail: s.failure ?? "" })),
    countedAt: sends.filter((s) => inWindow(s.at)).map((s) => seconds(s.at)),
    sentAt: sends.map((s) => seconds(s.at)),
  };
  const window = result.windowOpened === undefined ? "never opened" : `${result.windowOpened.toFixed(1)}-${result.windowClosed?.toFixed(1) ?? "?"} s`;
  console.log(
    `[${args.label ?? "rollout"}] ${clients} clients, ${result.sent} requests sent, ${result.counted} while version ${target ?? "?"} rolled out (window ${window}), ` +
      `${result.failures.length} failed; load ended: ${endings[result.endedBy]}`,
  );
  return result;
}

/** What keeps the load from proving "0 failed of at least `minCounted` requests during the rollout"; empty when it does. */
export function rolloutProblems<T>(load: RolloutLoad<T>): string[] {
  const problems: string[] = [];
  if (load.endedBy !== "rollout") problems.push(`the load ended because ${endings[load.endedBy]}, not because every replica served the new version`);
  if (load.counted < load.minCounted) problems.push(`only ${load.counted} requests were sent while the rollout ran, expected at least ${load.minCounted}`);
  for (const f of load.failures.slice(0, 20)) problems.push(`request at ${f.at.toFixed(2)} s${f.counted ? "" : " (outside the window)"} failed: ${f.detail.slice(0, 300)}`);
  if (load.failures.length > 20) problems.push(`and ${load.failures.length - 20} more failed requests`);
  return problems;
}
