import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createLoadBalancer, parseArgs, RoundRobin } from "../../components/local/loadBalancer";

const servers: http.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe("local load balancer (real HTTP on loopback)", () => {
  it("rotates through upstreams, healthy ones first", () => {
    const pool = new RoundRobin(parseArgs(["--upstream", "http://a:1", "--upstream", "http://b:2", "--upstream", "http://c:3"]).upstreams);
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["a", "b", "c"]);
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["b", "c", "a"]);
    const [, b] = pool.upstreams;
    if (b) b.downUntil = Date.now() + 60_000;
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["c", "a", "b"]);
  });

  it("rejects unknown arguments with the expected usage", () => {
    expect(() => parseArgs(["--bogus", "1"])).toThrow(/--listen HOST:PORT and --upstream URL/);
    expect(() => new RoundRobin([])).toThrow(/at least one --upstream/);
  });

  it("spreads requests over every replica, forwards bodies, and fails over from a dead one", async () => {
    const hits: Record<string, number> = {};
    const replica = (id: string) =>
      listen((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          hits[id] = (hits[id] ?? 0) + 1;
          res.writeHead(200, { "x-replica-id": id, "content-type": "application/json" });
          res.end(JSON.stringify({ id, echo: body }));
        });
      });
    const ports = [await replica("r0"), await replica("r1")];
    const deadPort = await listen(() => undefined).then((p) => {
      servers.pop()?.close();
      return p;
    });
    const lb = createLoadBalancer(new RoundRobin(parseArgs([...ports, deadPort].flatMap((p) => ["--upstream", `http://127.0.0.1:${p}`])).upstreams));
    servers.push(lb);
    const lbPort = await new Promise<number>((resolve) => lb.listen(0, "127.0.0.1", () => resolve((lb.address() as AddressInfo).port)));
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`http://127.0.0.1:${lbPort}/invocations`, { method: "POST", body: `{"n":${i}}` });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { echo: string }).echo).toBe(`{"n":${i}}`);
    }
    expect(hits.r0).toBeGreaterThanOrEqual(4);
    expect(hits.r1).toBeGreaterThanOrEqual(4);
    expect((hits.r0 ?? 0) + (hits.r1 ?? 0)).toBe(12);
    const health = (await (await fetch(`http://127.0.0.1:${lbPort}/lb/health`)).json()) as { upstreams: { up: boolean }[] };
    expect(health.upstreams.filter((u) => !u.up)).toHaveLength(1);
  });
});
