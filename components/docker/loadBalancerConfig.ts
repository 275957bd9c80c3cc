import * as fs from "node:fs";
import * as path from "node:path";
import { balancerLimits } from "../shared/balancerLimits";

/** The nginx config template in images/loadbalancer; placeholders are `{{NAME}}`. */
export const loadBalancerTemplatePath = path.resolve(__dirname, "..", "..", "images", "loadbalancer", "default.conf.template");
export const loadBalancerConfigPath = "/etc/nginx/conf.d/default.conf";

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export interface LoadBalancerTimeouts {
  /** Seconds a replica may take to answer once it has the request; then 504 (default: balancerLimits). */
  readonly upstreamTimeoutSeconds?: number;
  /** Seconds a replica is left out after `maxFails` failed attempts (default 5). */
  readonly failTimeoutSeconds?: number;
  /** Failed attempts (refused, timed out, 503) within `failTimeoutSeconds` that take a replica out (default 1). */
  readonly maxFails?: number;
}

/** The upstream servers nginx uses, kept current by the balancer's entrypoint; the config includes it. */
export const upstreamsPath = "/tmp/mlops-upstreams.conf";

/** The `server` options of every upstream: passive health as far as nginx OSS has it. */
function serverOptions(timeouts: LoadBalancerTimeouts): string {
  const { failTimeoutSeconds = 5, maxFails = 1 } = timeouts;
  return `max_fails=${maxFails} fail_timeout=${failTimeoutSeconds}s`;
}

/** One `server` line per upstream (`host` a name or an address). */
export function upstreamServers(upstreams: readonly Upstream[], timeouts: LoadBalancerTimeouts = {}): string {
  if (upstreams.length === 0) throw new Error("load balancer: expected at least one upstream replica");
  return upstreams.map((u) => `server ${u.host}:${u.port} ${serverOptions(timeouts)};`).join("\n");
}

/** Fills the template: the listen port, the timeouts, and the upstream block as an include of `upstreamsPath`. */
export function renderLoadBalancerConfig(template: string, listenPort: number, replicaCount: number, timeouts: LoadBalancerTimeouts = {}): string {
  if (replicaCount < 1) throw new Error("load balancer: expected at least one upstream replica");
  const { upstreamTimeoutSeconds = balancerLimits.upstreamTimeoutSeconds } = timeouts;
  const values: Record<string, string> = {
    LISTEN_PORT: String(listenPort),
    CONNECT_TIMEOUT: `${balancerLimits.connectTimeoutSeconds}s`,
    MAX_BODY: `${balancerLimits.maxBodyMiB}m`,
    CLIENT_BODY_TIMEOUT: `${balancerLimits.clientBodyTimeoutSeconds}s`,
    HEALTH_PATH: balancerLimits.healthPath,
    UPSTREAM_SERVERS: `    include ${upstreamsPath};`,
    UPSTREAM_TIMEOUT: `${upstreamTimeoutSeconds}s`,
    // Every replica once at most (a refused connection or a 503 moves on; a sent POST never does).
    NEXT_UPSTREAM_TRIES: String(replicaCount),
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
 * nginx resolves upstream host names only when it (re)loads its config, and a replica that is still
 * loading its model answers 503, which nginx must not retry for a POST. Replicas replaced one at a
 * time get new addresses under the same network alias, so the balancer's entrypoint lists, every
 * second, the addresses of each alias whose /ping answers 200, writes them to `upstreamsPath` and
 * reloads nginx gracefully (in-flight requests finish) when the list changes: a new replica joins
 * once its model is loaded, a removed one leaves, and the balancer itself is never restarted. With no
 * replica ready it keeps the last list. (Perl is in every Debian-based nginx image: perl-base is essential.)
 */
export function loadBalancerEntrypoint(upstreams: readonly Upstream[], timeouts: LoadBalancerTimeouts = {}): string[] {
  if (upstreams.some((u) => !/^[a-z0-9][a-z0-9.-]*$/.test(u.host)))
    throw new Error(`load balancer: upstream hosts must be DNS names, got ${upstreams.map((u) => u.host).join(", ")}`);
  const ping = `'$s = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 2) or exit 1; print $s "GET /ping HTTP/1.0\\r\\n\\r\\n"; $l = <$s>; exit(defined $l && $l =~ m{^HTTP/\\S+ 200} ? 0 : 1)'`;
  const script = [
    `upstreams=${upstreamsPath}`,
    `printf '%s\\n' '${upstreamServers(upstreams, timeouts).replaceAll("\n", "' '")}' > "$upstreams"`,
    `ready() { for target in ${upstreams.map((u) => `${u.host}:${u.port}`).join(" ")}; do`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
    "  for address in $(getent ahostsv4 \"${target%:*}\" | awk '{print $1}' | sort -u); do",
    `    if perl -MIO::Socket::INET -e ${ping} "$address:\${target##*:}"; then echo "server $address:\${target##*:} ${serverOptions(timeouts)};"; fi`,
    "  done; done; }",
    "nginx -g 'daemon off;' & nginx_pid=$!",
    "trap 'kill -QUIT $nginx_pid' TERM INT QUIT",
    'known=$(cat "$upstreams")',
    "while kill -0 $nginx_pid 2>/dev/null; do",
    "  sleep 1; now=$(ready)",
    '  if [ -n "$now" ] && [ "$now" != "$known" ]; then',
    '    printf \'%s\\n\' "$now" > "$upstreams"',
    '    if nginx -s reload; then echo "mlops: ready replicas changed, nginx reloaded:" $now >&2; known=$now; fi',
    "  fi",
    "done",
    "wait $nginx_pid",
  ].join("\n");
  return ["sh", "-c", script];
}
