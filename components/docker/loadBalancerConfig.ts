import * as fs from "node:fs";
import * as path from "node:path";

/** The nginx config template in images/loadbalancer; placeholders are `{{NAME}}`. */
export const loadBalancerTemplatePath = path.resolve(__dirname, "..", "..", "images", "loadbalancer", "default.conf.template");
export const loadBalancerConfigPath = "/etc/nginx/conf.d/default.conf";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** Fills the template: one `server host:port;` line per replica and the listen port. */
export function renderLoadBalancerConfig(template: string, listenPort: number, upstreams: readonly Upstream[]): string {
  if (upstreams.length === 0) throw new Error("load balancer: expected at least one upstream replica");
  const values: Record<string, string> = {
    LISTEN_PORT: String(listenPort),
    UPSTREAM_SERVERS: upstreams.map((u) => `    server ${u.host}:${u.port} max_fails=2 fail_timeout=5s;`).join("\n"),
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

/**
 * nginx resolves upstream host names only when it (re)loads its config. Replicas replaced one at a
 * time get new addresses under the same network alias, so the balancer's entrypoint re-resolves the
 * aliases every second and reloads nginx gracefully (in-flight requests finish) when they change:
 * new replicas join, removed ones leave, and the balancer itself is never restarted.
 */
export function loadBalancerEntrypoint(hosts: readonly string[]): string[] {
  if (hosts.some((h) => !/^[a-z0-9][a-z0-9.-]*$/.test(h))) throw new Error(`load balancer: upstream host names must be DNS names, got ${hosts.join(", ")}`);
  const script = [
    `addresses() { for host in ${hosts.join(" ")}; do getent ahostsv4 "$host" | awk '{print $1}' | sort -u; done; }`,
    "nginx -g 'daemon off;' & nginx_pid=$!",
    "trap 'kill -QUIT $nginx_pid' TERM INT QUIT",
    "known=$(addresses)",
    "while kill -0 $nginx_pid 2>/dev/null; do",
    "  sleep 1; now=$(addresses)",
    '  if [ "$now" != "$known" ] && nginx -s reload; then echo "mlops: replica addresses changed, nginx reloaded:" $now >&2; known=$now; fi',
    "done",
    "wait $nginx_pid",
  ].join("\n");
  return ["sh", "-c", script];
}
