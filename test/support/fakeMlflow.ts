import * as http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small in-memory stand-in for the MLflow REST endpoints the select phase calls (experiment by
 * name, run search, model registry), for unit tests that need a real HTTP server but no MLflow:
 * e.g. running a serialized dynamic provider in another process, or a client on a port of the
 * Fetch standard's blocked list. Integration tests use the real MLflow.
 */

export interface FakeRun {
  readonly runId: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface FakeMlflow {
  readonly url: string;
  readonly port: number;
  /** `METHOD endpoint` of every request, in order. */
  readonly requests: string[];
  /** Alias -> version of the one registered model. */
  readonly aliases: Map<string, string>;
  readonly versions: { version: string; run_id: string; source: string }[];
  close(): Promise<void>;
}

export interface FakeMlflowOptions {
  readonly experimentName: string;
  /** Returned by runs/search as they are: ordering and filtering are MLflow's job, not the fake's. */
  readonly runs: readonly FakeRun[];
  /** When set, every request must carry these basic-auth credentials (else 401). */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** 0 (default) picks a free port. */
  readonly port?: number;
}

export async function startFakeMlflow(opts: FakeMlflowOptions): Promise<FakeMlflow> {
  const requests: string[] = [];
  const aliases = new Map<string, string>();
  const versions: { version: string; run_id: string; source: string }[] = [];
  const expected = opts.credentials ? `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString("base64")}` : undefined;

  const answer = (method: string, endpoint: string, query: URLSearchParams, body: Record<string, unknown>): [number, unknown] => {
    const model = String(body.name ?? query.get("name") ?? "");
    const versionOf = (v: { version: string; run_id: string; source: string }) => ({ name: model, ...v, status: "READY" });
    switch (`${method} ${endpoint}`) {
      case "GET experiments/get-by-name":
        return query.get("experiment_name") === opts.experimentName
          ? [200, { experiment: { experiment_id: "1", name: opts.experimentName } }]
          : [404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "no such experiment" }];
      case "POST runs/search":
        return [
          200,
          {
            runs: opts.runs.map((r) => ({
              info: { run_id: r.runId, experiment_id: "1", status: "FINISHED" },
              data: {
                metrics: Object.entries(r.metrics).map(([key, value]) => ({ key, value, timestamp: 0 })),
                tags: Object.entries(r.tags ?? {}).map(([key, value]) => ({ key, value })),
              },
            })),
          },
        ];
      case "GET registered-models/alias": {
        const version = aliases.get(query.get("alias") ?? "");
        const found = versions.find((v) => v.version === version);
        return found
          ? [200, { model_version: versionOf(found) }]
          : [400, { error_code: "INVALID_PARAMETER_VALUE", message: `Registered model alias ${query.get("alias")} not found.` }];
      }
      case "POST registered-models/create":
        return [200, { registered_model: { name: model } }];
      case "GET model-versions/search":
        return [200, { model_versions: versions.map(versionOf) }];
      case "POST model-versions/create": {
        const created = { version: String(versions.length + 1), run_id: String(body.run_id), source: String(body.source) };
        versions.push(created);
        return [200, { model_version: versionOf(created) }];
      }
      case "GET model-versions/get": {
        const found = versions.find((v) => v.version === query.get("version"));
        return found ? [200, { model_version: versionOf(found) }] : [404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "no such version" }];
      }
      case "POST registered-models/alias":
        aliases.set(String(body.alias), String(body.version));
        return [200, {}];
      default:
        return [404, { error_code: "ENDPOINT_NOT_FOUND", message: `${method} ${endpoint} is not in the fake` }];
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const endpoint = url.pathname.replace(/^\/api\/2\.0\/mlflow\//, "");
      requests.push(`${req.method} ${endpoint}`);
      const [status, payload] =
        expected !== undefined && req.headers.authorization !== expected
          ? [401, { error_code: "UNAUTHENTICATED", message: "wrong or missing credentials" }]
          : url.pathname === "/health"
            ? [200, "OK"]
            : answer(req.method ?? "GET", endpoint, url.searchParams, chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>) : {});
      res.writeHead(status, { "content-type": "application/json" }).end(typeof payload === "string" ? payload : JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    aliases,
    versions,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
