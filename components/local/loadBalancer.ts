/**
 * The local platform's load balancer: round-robin HTTP proxy over the model-server replicas, with
 * passive failover (a replica that refuses a connection is skipped for a while and the request
 * goes to the next one). Run as a process: `node --import tsx loadBalancer.ts --listen HOST:PORT
 * --upstream URL [--upstream URL ...]`. The docker and kubernetes platforms use nginx and a
 * Service instead.
 */
import * as http from "node:http";

export interface Upstream {
  readonly url: URL;
  /** Until this time (ms since epoch) the upstream is skipped after a connection failure. */
  downUntil: number;
}

/** Picks upstreams in round-robin order, skipping those marked down (all down: try them anyway). */
export class RoundRobin {
  private next = 0;
  constructor(readonly upstreams: Upstream[]) {
    if (upstreams.length === 0) throw new Error("the load balancer needs at least one --upstream");
  }

  /** The order to try for one request: every upstream once, healthy ones first. */
  order(now = Date.now()): Upstream[] {
    const start = this.next;
    this.next = (this.next + 1) % this.upstreams.length;
    const rotated = this.upstreams.map((_, i) => this.upstreams[(start + i) % this.upstreams.length] as Upstream);
    return [...rotated.filter((u) => u.downUntil <= now), ...rotated.filter((u) => u.downUntil > now)];
  }
}

export function parseArgs(argv: readonly string[]): { host: string; port: number; upstreams: Upstream[] } {
  let listen = "127.0.0.1:8000";
  const upstreams: Upstream[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--listen" && value) listen = value;
    else if (flag === "--upstream" && value) upstreams.push({ url: new URL(value), downUntil: 0 });
    else throw new Error(`unknown argument ${flag}: expected --listen HOST:PORT and --upstream URL`);
    i++;
  }
  const [host = "127.0.0.1", port = "8000"] = listen.split(":");
  return { host, port: Number(port), upstreams };
}

function forward(req: http.IncomingMessage, body: Buffer, upstream: Upstream, res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const proxied = http.request(
      { host: upstream.url.hostname, port: upstream.url.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.url.host }, timeout: 60_000 },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, { ...upstreamRes.headers, "x-upstream": upstream.url.host });
        upstreamRes.pipe(res);
        upstreamRes.on("end", () => resolve(true));
      },
    );
    // Only a failure to connect is retried elsewhere: once a replica has the request, it owns the answer.
    proxied.on("error", () => resolve(false));
    proxied.end(body);
  });
}

export function createLoadBalancer(pool: RoundRobin): http.Server {
  return http.createServer(async (req, res) => {
    if (req.url === "/lb/health") {
      const now = Date.now();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ upstreams: pool.upstreams.map((u) => ({ url: u.url.href, up: u.downUntil <= now })) }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    for (const upstream of pool.order()) {
      if (await forward(req, body, upstream, res)) return;
      upstream.downUntil = Date.now() + 5_000;
    }
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "no replica accepted the request" }));
  });
}

if (require.main === module) {
  try {
    const { host, port, upstreams } = parseArgs(process.argv.slice(2));
    const server = createLoadBalancer(new RoundRobin(upstreams));
    server.listen(port, host, () => console.log(`load balancer on http://${host}:${port} -> ${upstreams.map((u) => u.url.host).join(", ")}`));
    process.on("SIGTERM", () => server.close(() => process.exit(0)));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
}
