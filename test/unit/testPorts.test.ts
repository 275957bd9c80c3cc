import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadStackConfig, parseStackConfig } from "../../config";
import { assertStackPortsInBlock, blockPorts, blockSize, portBlocks, stackHostPorts, testPorts, tierOf, tierRanges } from "../support/testPorts";

const repo = path.resolve(__dirname, "..", "..");
const files = Object.keys(portBlocks);
const tierFolders = ["test/integration", "test/e2e", "test/cluster"];
const tierFiles = tierFolders.flatMap((dir) => fs.readdirSync(path.join(repo, dir)).map((f) => `${dir}/${f}`));
const read = (file: string) => fs.readFileSync(path.join(repo, file), "utf8");

/** The ports the local cluster needs free, from its README's "Ports (must be free)" item: `2379-2381 etcd, 6443 API, ...`. */
function clusterPorts(): number[] {
  const item = /Ports \(must be free\):(.*?)\n- /s.exec(read("scripts/cluster/README.md"))?.[1] ?? "";
  return [...item.matchAll(/(\d{4,5})(?:-(\d{4,5}))?/g)].flatMap(([, from, to]) => {
    const first = Number(from);
    return Array.from({ length: Number(to ?? from) - first + 1 }, (_, i) => first + i);
  });
}

describe("test ports (test/support/testPorts.ts)", () => {
  it("give every test file a block of its own: no port is in two blocks", () => {
    const owners = new Map<number, string[]>();
    for (const file of files) for (const port of blockPorts(file)) owners.set(port, [...(owners.get(port) ?? []), file]);
    expect(owners.size).toBe(files.length * blockSize);
    expect([...owners].filter(([, owner]) => owner.length > 1)).toEqual([]);
  });

  it("name files that exist, each block inside its tier's range, the tiers' ranges apart", () => {
    expect(files.filter((f) => !fs.existsSync(path.join(repo, f)))).toEqual([]);
    expect(files.filter((f) => !blockPorts(f).every((p) => p >= tierRanges[tierOf(f)].first && p <= tierRanges[tierOf(f)].last))).toEqual([]);
    const ranges = Object.values(tierRanges).sort((a, b) => a.first - b.first);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]?.first).toBeGreaterThan(ranges[i - 1]?.last ?? Number.POSITIVE_INFINITY);
  });

  it("stay clear of the ephemeral range, the local cluster's ports and the shipped stacks' ports", () => {
    const all = files.flatMap(blockPorts);
    const ephemeralFirst = fs.existsSync("/proc/sys/net/ipv4/ip_local_port_range")
      ? Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0])
      : 32768;
    expect(Math.max(...all)).toBeLessThan(ephemeralFirst);
    const cluster = clusterPorts();
    expect(cluster).toEqual(expect.arrayContaining([2379, 6443, 10250, 18480]));
    const shipped = ["local", "dev", "prod", "cluster"].flatMap((stack) => stackHostPorts(loadStackConfig(repo, stack)));
    expect(shipped).toEqual(expect.arrayContaining([5000, 8000]));
    expect(all.filter((p) => cluster.includes(p) || shipped.includes(p))).toEqual([]);
  });

  it("cover every test file that writes a stack, and no file hard-codes a port of the tiers' ranges", () => {
    // TestStack.write checks the ports at run time; test/e2e/pulumiUp.test.ts writes its stack itself and checks
    // them too. Render-mode previews (componentAliases, preview) write prod stacks that bind nothing.
    const writers = tierFiles.filter((f) => /new TestStack\(|assertStackPortsInBlock\(/.test(read(f)));
    expect(writers.length).toBe(files.length);
    expect(writers.filter((f) => portBlocks[f] === undefined)).toEqual([]);
    const inRanges = (n: number) => Object.values(tierRanges).some((r) => n >= r.first && n <= r.last);
    const literals = [...tierFiles, ...fs.readdirSync(path.join(repo, "test/support")).map((f) => `test/support/${f}`)]
      .filter((f) => f !== "test/support/testPorts.ts")
      .flatMap((f) => [...read(f).matchAll(/\b\d{5}\b/g)].filter(([n]) => inRanges(Number(n))).map(([n]) => `${f}: ${n}`));
    expect(literals).toEqual([]);
  });

  it("refuse a stack whose ports leave its writer's block, naming them", () => {
    const writer = "test/e2e/localPipeline.test.ts";
    const ports = testPorts(writer);
    const local = (serving: Record<string, unknown>) => ({ "mlops:platform": "local", "mlops:tracking": { port: ports.mlflow }, "mlops:serving": serving });
    expect(() => assertStackPortsInBlock(local({ port: ports.replica, loadBalancerPort: ports.lb, replicas: 8 }), writer, "Pulumi.e2e.yaml")).not.toThrow();
    expect(() => assertStackPortsInBlock(local({ port: ports.replica, loadBalancerPort: ports.lb, replicas: 9 }), writer, "Pulumi.e2e.yaml")).toThrow(
      `Pulumi.e2e.yaml (written by ${writer}) binds ${ports.replica + 8}, outside ${writer}'s ports ${ports.mlflow}..${ports.mlflow + 9}`,
    );
    // The default serving ports (8080.., 8000) when a test sets only its MLflow port.
    expect(() => assertStackPortsInBlock({ "mlops:platform": "local", "mlops:tracking": { port: ports.mlflow } }, writer, "Pulumi.e2e.yaml")).toThrow(/binds 8000, 8080, 8081/);
    expect(() => assertStackPortsInBlock(local({}), "test/e2e/unknown.test.ts", "Pulumi.x.yaml")).toThrow(
      /test\/e2e\/unknown\.test\.ts has no ports in test\/support\/testPorts\.ts/,
    );
  });

  it("count the ports each platform binds on this machine", () => {
    const serving = { port: 9100, loadBalancerPort: 9000, replicas: 3 };
    const on = (platform: string, extra: Record<string, unknown> = {}) =>
      stackHostPorts(parseStackConfig({ "mlops:platform": platform, "mlops:tracking": { port: 5055 }, "mlops:serving": serving, ...extra }, "Pulumi.t.yaml"));
    expect(on("local")).toEqual([5055, 9000, 9100, 9101, 9102]);
    expect(on("docker")).toEqual([5055, 9000]);
    expect(on("kubernetes", { "mlops:kubernetes": { namespace: "mlops", context: "c" } })).toEqual([5055]);
  });
});
