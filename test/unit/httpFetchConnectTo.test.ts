import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpFetch } from "../../components/shared/httpFetch";

// serving.ingress.address: an Ingress host without a DNS record here, reached at its controller's
// address (the local cluster's Traefik on 127.0.0.1:18480) with the host in the Host header.
let server: http.Server;
let address = "";

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ host: req.headers.host, path: req.url, method: req.method }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("httpFetch connectTo", () => {
  it("connects to host:port and sends the URL's host, path and query", async () => {
    const res = await httpFetch("http://models.cluster.test/invocations?x=1", { method: "POST", body: "{}", connectTo: address });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ host: "models.cluster.test", path: "/invocations?x=1", method: "POST" });
  });

  it("without it, the URL's name is resolved (and here does not resolve)", async () => {
    await expect(httpFetch("http://models.cluster.test/ping", { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
  });

  it("refuses a connectTo that is not host:port", async () => {
    await expect(httpFetch("http://models.cluster.test/ping", { connectTo: "127.0.0.1" })).rejects.toThrow(/not host:port/);
  });
});
