/**
 * `fetch` for URLs on ports the user chooses (tracking, serving, load balancer). Node's own fetch
 * follows the Fetch standard and refuses "bad ports" (6000, 5060/5061, 6666-6669, ...) with a bare
 * `fetch failed`, although the config schema accepts any port from 1024 to 65535. This sends the
 * request with node:http / node:https instead and answers with a standard `Response`, so callers
 * keep the fetch API (status, ok, text(), json()) on every port.
 *
 * Node built-ins are `require`d inside the function: the MLflow client travels with a Pulumi dynamic
 * provider, which Pulumi serializes by value (see components/local/supervisor.ts).
 */

/** What callers pass: the subset of RequestInit these requests use. */
export interface HttpFetchInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  readonly signal?: AbortSignal;
  /**
   * `host:port` to connect to instead of the URL's, which still goes in the Host header (and TLS SNI):
   * an Ingress host whose name does not resolve on this machine, reached at its controller's address.
   */
  readonly connectTo?: string;
}

/**
 * Statuses whose Response may not carry a body (the Response constructor throws otherwise). An
 * array, not a Set: Pulumi's closure serializer cannot carry a Set.
 */
const nullBodyStatus: readonly number[] = [101, 103, 204, 205, 304];

export function httpFetch(input: string | URL, init: HttpFetchInit = {}): Promise<Response> {
  const http = require("node:http") as typeof import("node:http");
  const https = require("node:https") as typeof import("node:https");
  const url = new URL(input);
  if (url.protocol !== "http:" && url.protocol !== "https:") return Promise.reject(new TypeError(`httpFetch: expected an http(s) URL, got ${url.protocol}`));
  if (url.username || url.password) return Promise.reject(new TypeError("httpFetch: credentials in the URL are refused, as fetch does; send an authorization header"));
  const send = url.protocol === "https:" ? https.request : http.request;
  return new Promise<Response>((resolve, reject) => {
    // A fresh connection per request (agent: false): no idle keep-alive socket that the server may
    // already have closed, and nothing left open that keeps a short-lived process alive.
    const common = { method: init.method ?? "GET", headers: init.headers, signal: init.signal, agent: false };
    const at = init.connectTo ? /^(.+):(\d+)$/.exec(init.connectTo) : null;
    if (init.connectTo && !at) throw new TypeError(`httpFetch: connectTo '${init.connectTo}' is not host:port`);
    const onResponse = (res: import("node:http").IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const headers = new Headers();
        for (const [key, value] of Object.entries(res.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(key, one);
        }
        const status = res.statusCode ?? 500;
        resolve(new Response(nullBodyStatus.includes(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? "", headers }));
      });
    };
    const request = at
      ? send(
          { ...common, host: at[1], port: Number(at[2]), path: `${url.pathname}${url.search}`, servername: url.hostname, headers: { ...init.headers, host: url.host } },
          onResponse,
        )
      : send(url, common, onResponse);
    request.on("error", reject);
    request.end(init.body);
  });
}
