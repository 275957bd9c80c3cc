/**
 * The local platform's load balancer: a round-robin HTTP proxy over the model-server replicas. Run as
 * a process: `node --import tsx loadBalancer.ts --listen HOST:PORT --upstream URL [--upstream URL ...]`.
 * The docker and kubernetes platforms use nginx and a Service instead.
 *
 * What it promises real clients:
 * - active health checks: every replica's `/ping` is polled; replicas answering 200 get the requests
 *   (a loading or draining replica answers 503 and is skipped until it answers 200 again). One slow
 *   answer under load is not a verdict: a replica is dropped after two health checks in a row time out;
 * - panic routing (Envoy's panic threshold): when no replica is ready, the request goes to those that
 *   still answer their health check. During a rollout the draining replica serves until the new one's
 *   200 has been seen, instead of the balancer answering 503 for the half second in between;
 * - a replica's 503 (loading, draining, overloaded) means it did not process the request, so the
 *   next replica gets it; only when none can is the answer 503 (Retry-After);
 * - at most once: a request goes to a second replica only when the first refused the connection or
 *   did not accept it in time, i.e. before a byte of the request was sent. Once a replica may have
 *   processed a request, its failure is the client's answer (502), never a replay elsewhere;
 * - no hangs: a replica that stops answering hits the upstream timeout (504); one that dies
 *   mid-response gives a 502 at once. Responses are buffered whole, so a client sees either a
 *   complete answer or a clean error, never a truncated body under a 200;
 * - a client that goes away mid-body or mid-wait cancels its upstream request and nothing else.
 */
import * as http from "node:http";
import { balancerLimits, maxBodyBytes } from "../shared/balancerLimits";

export interface Upstream {
  readonly url: URL;
  /** Until this time (ms since epoch) the upstream is skipped after a refused connection. */
  downUntil: number;
  /** The last active health check's verdict: `/ping` answered 200. */
  ready: boolean;
  /** Health checks in a row that got no answer in time. */
  timeouts: number;
  /** The replica answered its last health check (200 or not): it is alive, fit for panic routing. */
  answering: boolean;
}

/** Consecutive health-check timeouts after which a replica stops getting requests. */
export const timeoutsBeforeUnready = 2;

/** A replica not yet checked: no requests until its first health check answers 200. */
export const newUpstream = (url: string): Upstream => ({ url: new URL(url), downUntil: 0, ready: false, timeouts: 0, answering: false });

/** No answer (refused, or too many timeouts): neither ready nor fit for panic routing. */
const markSilent = (upstream: Upstream) => Object.assign(upstream, { ready: false, answering: false });

export interface BalancerOptions {
  /** Path polled on every replica; 200 means ready. */
  readonly healthPath: string;
  readonly healthIntervalMs: number;
  /** Time to accept the connection; past it the request goes to the next replica (nothing was sent). */
  readonly connectTimeoutMs: number;
  /** Time without progress once the request is sent; past it the client gets 504. */
  readonly upstreamTimeoutMs: number;
  readonly maxBodyBytes: number;
}

export const defaultBalancerOptions: BalancerOptions = {
  healthPath: "/ping",
  healthIntervalMs: 500,
  connectTimeoutMs: balancerLimits.connectTimeoutSeconds * 1000,
  upstreamTimeoutMs: balancerLimits.upstreamTimeoutSeconds * 1000,
  maxBodyBytes,
};

/** Picks upstreams in round-robin order among the ready ones not marked down. */
export class RoundRobin {
  private next = 0;
  constructor(readonly upstreams: Upstream[]) {
    if (upstreams.length === 0) throw new Error("the load balancer needs at least one --upstream");
  }

  /**
   * The order to try for one request, starting from the next in turn: the ready upstreams, then (panic
   * routing) those not ready that still answer their health checks. Refused ones sit out their time.
   */
  order(now = Date.now()): Upstream[] {
    const start = this.next;
    this.next = (this.next + 1) % this.upstreams.length;
    const rotated = this.upstreams.map((_, i) => this.upstreams[(start + i) % this.upstreams.length] as Upstream).filter((u) => u.downUntil <= now);
    return [...rotated.filter((u) => u.ready), ...rotated.filter((u) => !u.ready && u.answering)];
  }

  anyReady(now = Date.now()): boolean {
    return this.upstreams.some((u) => u.ready && u.downUntil <= now);
  }
}

const numberFlags: Record<string, keyof BalancerOptions> = {
  "--health-interval-ms": "healthIntervalMs",
  "--connect-timeout-ms": "connectTimeoutMs",
  "--upstream-timeout-ms": "upstreamTimeoutMs",
  "--max-body-bytes": "maxBodyBytes",
};

export function parseArgs(argv: readonly string[]): { host: string; port: number; upstreams: Upstream[]; options: BalancerOptions } {
  let listen = "127.0.0.1:8000";
  const upstreams: Upstream[] = [];
  const options: Record<string, number | string> = { ...defaultBalancerOptions };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? "";
    const value = argv[i + 1];
    const numeric = numberFlags[flag];
    if (value === undefined) throw new Error(`argument ${flag} needs a value`);
    if (flag === "--listen") listen = value;
    else if (flag === "--upstream") upstreams.push(newUpstream(value));
    else if (flag === "--health-path") options.healthPath = value;
    else if (numeric) {
      const n = Number(value);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} ${value}: expected a positive integer`);
      options[numeric] = n;
    } else throw new Error(`unknown argument ${flag}: expected --listen HOST:PORT and --upstream URL (and optionally ${Object.keys(numberFlags).join(", ")}, --health-path)`);
  }
  const [host = "127.0.0.1", port = "8000"] = listen.split(":");
  return { host, port: Number(port), upstreams, options: options as unknown as BalancerOptions };
}

/**
 * One active health check of one replica. An answer is a verdict at once (200 ready, anything else
 * not); no connection makes it not ready at once; a replica that does not answer within the interval
 * (at least 1 s) loses readiness only after `timeoutsBeforeUnready` such checks in a row.
 */
export function checkUpstream(upstream: Upstream, options: BalancerOptions): Promise<void> {
  return new Promise((resolve) => {
    let timedOut = false;
    const req = http.get(
      { host: upstream.url.hostname, port: upstream.url.port, path: options.healthPath, agent: false, timeout: Math.max(options.healthIntervalMs, 1_000) },
      (res) => {
        upstream.ready = res.statusCode === 200;
        upstream.answering = true;
        upstream.timeouts = 0;
        if (upstream.ready) upstream.downUntil = 0;
        res.resume();
        res.on("error", () => undefined);
        res.on("close", resolve);
      },
    );
    req.on("timeout", () => {
      timedOut = true;
      req.destroy(new Error("health check timed out"));
    });
    req.on("error", () => {
      if (timedOut) {
        upstream.timeouts++;
        if (upstream.timeouts >= timeoutsBeforeUnready) markSilent(upstream);
      } else markSilent(upstream);
      resolve();
    });
  });
}

/** Polls every replica forever; returns a stop function. The first round runs before it returns. */
export async function startHealthChecks(pool: RoundRobin, options: BalancerOptions): Promise<() => void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async () => {
    await Promise.all(pool.upstreams.map((u) => checkUpstream(u, options)));
    if (!stopped) timer = setTimeout(round, options.healthIntervalMs);
  };
  await Promise.all(pool.upstreams.map((u) => checkUpstream(u, options)));
  timer = setTimeout(round, options.healthIntervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

type Outcome =
  | { kind: "answered"; status: number; headers: http.IncomingHttpHeaders; body: Buffer }
  /** Nothing was sent: another replica may take the request. */
  | { kind: "refused"; reason: string }
  /** The replica may have processed the request: its failure is final. */
  | { kind: "failed"; status: 502 | 504; reason: string };

function forward(req: http.IncomingMessage, body: Buffer, upstream: Upstream, options: BalancerOptions, cancel: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      resolve(outcome);
    };
    const headers = { ...req.headers, host: upstream.url.host, "content-length": String(body.length) };
    delete headers.connection;
    delete headers["transfer-encoding"];
    // A fresh connection per request: a pooled socket the replica closed while idle fails only after
    // the request was written, and then it could not be retried without risking a second execution.
    const proxied = http.request({ host: upstream.url.hostname, port: upstream.url.port, method: req.method, path: req.url, headers, agent: false });
    const connectTimer = setTimeout(() => {
      if (!connected) {
        proxied.destroy();
        settle({ kind: "refused", reason: `no connection within ${options.connectTimeoutMs} ms` });
      }
    }, options.connectTimeoutMs);
    proxied.on("socket", (socket) => {
      socket.once("connect", () => {
        connected = true;
        clearTimeout(connectTimer);
        proxied.setTimeout(options.upstreamTimeoutMs, () => {
          proxied.destroy();
          settle({ kind: "failed", status: 504, reason: `no answer within ${options.upstreamTimeoutMs} ms` });
        });
        proxied.end(body);
      });
    });
    proxied.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => settle({ kind: "answered", status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("aborted", () => settle({ kind: "failed", status: 502, reason: "the replica closed the connection mid-response" }));
      res.on("error", () => settle({ kind: "failed", status: 502, reason: "the replica closed the connection mid-response" }));
    });
    proxied.on("error", (err) => {
      settle(connected ? { kind: "failed", status: 502, reason: `the replica failed: ${err.message}` } : { kind: "refused", reason: err.message });
    });
    cancel.addEventListener("abort", () => {
      proxied.destroy();
      settle({ kind: "failed", status: 502, reason: "the client went away" });
    });
  });
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...extra });
  res.end(JSON.stringify(payload));
}

/** Reads the whole body, or undefined when the client aborted or sent too much (answered already). */
function readBody(req: http.IncomingMessage, res: http.ServerResponse, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        sendJson(res, 413, { error: `request body over ${maxBytes} bytes` }, { connection: "close" });
        req.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", () => resolve(undefined));
    req.on("close", () => {
      if (!req.complete) resolve(undefined);
    });
  });
}

const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"]);

export function createLoadBalancer(pool: RoundRobin, options: BalancerOptions = defaultBalancerOptions): http.Server {
  const server = http.createServer(async (req, res) => {
    // A client that vanishes must cost its own request only: socket errors never reach the process.
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    if (req.url === balancerLimits.healthPath) {
      const now = Date.now();
      const upstreams = pool.upstreams.map((u) => ({ url: u.url.href, ready: u.ready, up: u.ready && u.downUntil <= now }));
      sendJson(res, pool.anyReady(now) ? 200 : 503, { ready: pool.anyReady(now), upstreams });
      return;
    }
    const body = await readBody(req, res, options.maxBodyBytes);
    if (body === undefined) return;
    const cancel = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) cancel.abort();
    });
    const candidates = pool.order();
    const refusals: string[] = [];
    for (const upstream of candidates) {
      const outcome = await forward(req, body, upstream, options, cancel.signal);
      if (cancel.signal.aborted) return;
      if (outcome.kind === "refused") {
        upstream.downUntil = Date.now() + 5_000;
        markSilent(upstream);
        refusals.push(`${upstream.url.host}: ${outcome.reason}`);
        continue;
      }
      if (outcome.kind === "failed") {
        sendJson(
          res,
          outcome.status,
          { error: `${outcome.reason} (${upstream.url.host}); not retried elsewhere, it may have been processed` },
          { "x-upstream": upstream.url.host },
        );
        return;
      }
      // A replica that says it is loading, draining or overloaded did not process the request: the next
      // one may take it, and this one gets no more until its /ping says ready.
      if (outcome.status === 503) {
        upstream.ready = false;
        refusals.push(`${upstream.url.host}: HTTP 503 ${outcome.body.toString("utf8", 0, 200)}`);
        continue;
      }
      const headers: http.OutgoingHttpHeaders = { "x-upstream": upstream.url.host, "content-length": outcome.body.length };
      for (const [key, value] of Object.entries(outcome.headers)) if (!hopByHop.has(key) && value !== undefined) headers[key] = value;
      if (!res.destroyed) {
        res.writeHead(outcome.status, headers);
        res.end(outcome.body);
      }
      return;
    }
    const detail = refusals.length > 0 ? `; refused: ${refusals.join("; ")}` : "";
    sendJson(res, 503, { error: `no replica is ready${detail}` }, { "retry-after": "1" });
  });
  // Slow or broken clients: parse errors and resets end that connection only.
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  return server;
}

if (require.main === module) {
  try {
    const { host, port, upstreams, options } = parseArgs(process.argv.slice(2));
    const pool = new RoundRobin(upstreams);
    const server = createLoadBalancer(pool, options);
    void startHealthChecks(pool, options).then((stopChecks) => {
      server.listen(port, host, () => {
        const address = server.address();
        const bound = typeof address === "object" && address ? address.port : port;
        console.log(`load balancer on http://${host}:${bound} -> ${upstreams.map((u) => u.url.host).join(", ")}`);
      });
      let stopping = false;
      process.on("SIGTERM", () => {
        // A group-wide SIGTERM and the supervisor's forwarded one arrive together: stop once.
        if (stopping) return;
        stopping = true;
        stopChecks();
        server.close(() => process.exit(0));
        setTimeout(() => process.exit(0), 5_000).unref();
      });
    });
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
