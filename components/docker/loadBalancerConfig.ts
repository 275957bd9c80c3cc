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
