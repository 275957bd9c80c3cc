import * as fs from "node:fs";
import * as path from "node:path";

/** The nginx config template in images/loadbalancer; placeholders are `{{NAME}}`. */
export const loadBalancerTemplatePath = path.resolve(__dirname, "..", "..", "images", "loadbalancer", "default.conf.template");
export const loadBalancerConfigPath = "/etc/nginx/conf.d/default.conf";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export interface LoadBalancerTimeouts {
  /** Seconds a replica may take to answer once it has the request; then 504 (default 60). */
  readonly upstreamTimeoutSeconds?: number;
  /** Seconds a replica is left out after `maxFails` failed attempts (default 5). */
  readonly failTimeoutSeconds?: number;
  /** Failed attempts (refused, timed out, 503) within `failTimeoutSeconds` that take a replica out (default 1). */
  readonly maxFails?: number;
}

/** Fills the template: one `server host:port ...;` line per replica, the listen port and the timeouts. */
export function renderLoadBalancerConfig(template: string, listenPort: number, upstreams: readonly Upstream[], timeouts: LoadBalancerTimeouts = {}): string {
  if (upstreams.length === 0) throw new Error("load balancer: expected at least one upstream replica");
  const { upstreamTimeoutSeconds = 60, failTimeoutSeconds = 5, maxFails = 1 } = timeouts;
  const values: Record<string, string> = {
    LISTEN_PORT: String(listenPort),
    UPSTREAM_SERVERS: upstreams.map((u) => `    server ${u.host}:${u.port} max_fails=${maxFails} fail_timeout=${failTimeoutSeconds}s;`).join("\n"),
    UPSTREAM_TIMEOUT: `${upstreamTimeoutSeconds}s`,
    // Every replica once at most (a refused connection or a 503 moves on; a sent POST never does).
    NEXT_UPSTREAM_TRIES: String(upstreams.length),
  };
  const rendered = template.replace(/\{\{([A-Z_]+)\}\}/g, (match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`load balancer template: unknown placeholder ${match} (known: ${Object.keys(values).join(", ")})`);
    return value;
  });
  return rendered;
}

export function readLoadBalancerTemplate(file: string = loadBalancerTemplatePath): string {
  return fs.readFileSync(file, "utf8");
}
