import { describe, expect, it } from "vitest";
import { defaultBalancerOptions, parseArgs, RoundRobin } from "../../components/local/loadBalancer";

// The faults (aborts, kills, hangs, 503s) are exercised for real in test/integration/localLoadBalancer.test.ts.
describe("local load balancer: choice of replica and arguments", () => {
  it("rotates through the ready upstreams only, skipping those refused recently", () => {
    const pool = new RoundRobin(parseArgs(["--upstream", "http://a:1", "--upstream", "http://b:2", "--upstream", "http://c:3"]).upstreams);
    expect(pool.order()).toEqual([]);
    expect(pool.anyReady()).toBe(false);
    for (const u of pool.upstreams) u.ready = true;
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["b", "c", "a"]);
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["c", "a", "b"]);
    const [a, b] = pool.upstreams;
    if (b) b.downUntil = Date.now() + 60_000;
    if (a) a.ready = false;
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["c"]);
    expect(pool.anyReady()).toBe(true);
    // Panic routing: a replica that answers its checks but is not ready (draining) comes after the ready ones.
    if (a) a.answering = true;
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["c", "a"]);
    const c = pool.upstreams[2];
    if (c) c.ready = false;
    expect(pool.anyReady()).toBe(false);
    expect(pool.order().map((u) => u.url.hostname)).toEqual(["a"]);
  });

  it("parses timeouts and rejects unknown or bad arguments with the expected usage", () => {
    const parsed = parseArgs(["--listen", "127.0.0.1:9000", "--upstream", "http://a:1", "--upstream-timeout-ms", "1500", "--health-path", "/health"]);
    expect(parsed).toMatchObject({ host: "127.0.0.1", port: 9000, options: { ...defaultBalancerOptions, upstreamTimeoutMs: 1500, healthPath: "/health" } });
    expect(() => parseArgs(["--bogus", "1"])).toThrow(/--listen HOST:PORT and --upstream URL/);
    expect(() => parseArgs(["--connect-timeout-ms", "soon"])).toThrow(/--connect-timeout-ms soon: expected a positive integer/);
    expect(() => parseArgs(["--upstream"])).toThrow(/--upstream needs a value/);
    expect(() => new RoundRobin([])).toThrow(/at least one --upstream/);
  });
});
