import { describe, expect, it } from "vitest";
import { metricsConfigSchema } from "../../config";
import type { Run, SearchRunsPage, SearchRunsRequest } from "../../components/registry/mlflowTypes";
import { type RegistryClient, registerChampion } from "../../components/registry/register";
import { NoEligibleRunError, type RunSearchClient, selectChampion } from "../../components/registry/select";
import { formatTopRuns } from "../../programs/select/formatTopRuns";

const metrics = metricsConfigSchema.parse({
  registeredModel: { name: "m" },
  orderBy: { metric: "cv_f1_macro_mean", direction: "desc" },
  tieBreakers: [{ metric: "cv_f1_macro_std", direction: "asc" }],
  thresholds: { test_f1_macro: 0.5 },
  showTop: 3,
});

function run(id: string, values: Record<string, number | string | null>, tags: Record<string, string> = {}): Run {
  return {
    info: { run_id: id, experiment_id: "1", status: "FINISHED" },
    data: {
      metrics: Object.entries(values).map(([key, value]) => ({ key, value, timestamp: 0 })),
      params: [
        { key: "C", value: id.length.toString() },
        { key: "seed", value: "1" },
      ],
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    },
  };
}

/** A server stand-in that returns pages in the given order and records each request. */
function fakeSearch(pages: readonly SearchRunsPage[], experiment = true) {
  const requests: SearchRunsRequest[] = [];
  const client: RunSearchClient = {
    getExperimentByName: async (name) => (experiment ? { experiment_id: "1", name } : undefined),
    searchRuns: async (request) => {
      requests.push(request);
      return pages[requests.length - 1] ?? { runs: [] };
    },
  };
  return { client, requests };
}

describe("selectChampion", () => {
  it("asks once for exactly showTop runs with the server-side filter and order", async () => {
    const { client, requests } = fakeSearch([
      { runs: [run("a", { cv_f1_macro_mean: 0.9 }, { "mlops.model_source": "models:/m-1" }), run("b", { cv_f1_macro_mean: 0.8 })], nextPageToken: undefined },
    ]);
    const selection = await selectChampion({ client, metrics, experimentName: "e", studyId: "s1" });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.maxResults).toBe(3);
    expect(requests[0]?.filter).toContain("tags.`mlops.study_id` = 's1'");
    expect(requests[0]?.filter).toContain("metrics.`test_f1_macro` >= 0.5");
    expect(requests[0]?.orderBy).toEqual(["metrics.`cv_f1_macro_mean` DESC", "metrics.`cv_f1_macro_std` ASC", "attributes.run_id ASC"]);
    expect(selection.champion.runId).toBe("a");
    expect(selection.champion.modelSource).toBe("models:/m-1");
    expect(selection.top.map((r) => [r.rank, r.runId, r.modelSource])).toEqual([
      [1, "a", "models:/m-1"],
      [2, "b", "runs:/b/model"],
    ]);
  });

  it("follows a next-page token only while it still lacks runs", async () => {
    const { client, requests } = fakeSearch([
      { runs: [run("a", { cv_f1_macro_mean: 0.9 })], nextPageToken: "p2" },
      { runs: [run("b", { cv_f1_macro_mean: 0.8 }), run("c", { cv_f1_macro_mean: 0.7 })], nextPageToken: "p3" },
    ]);
    const selection = await selectChampion({ client, metrics, experimentName: "e", studyId: "s1" });
    expect(requests.map((r) => [r.maxResults, r.pageToken])).toEqual([
      [3, undefined],
      [2, "p2"],
    ]);
    expect(selection.top.map((r) => r.runId)).toEqual(["a", "b", "c"]);
  });

  it("drops runs whose order metric is missing or NaN (the server sorts them last)", async () => {
    const { client } = fakeSearch([{ runs: [run("a", { cv_f1_macro_mean: 0.9 }), run("b", { cv_f1_macro_mean: "NaN" }), run("c", {})] }]);
    const selection = await selectChampion({ client, metrics, experimentName: "e", studyId: "s1" });
    expect(selection.top.map((r) => r.runId)).toEqual(["a"]);
  });

  it("throws NoEligibleRunError naming the filter when nothing matches", async () => {
    const { client } = fakeSearch([{ runs: [] }]);
    const error = await selectChampion({ client, metrics, experimentName: "e", studyId: "s1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoEligibleRunError);
    expect(String(error)).toMatch(/no eligible run in experiment 'e' for study s1: no FINISHED trial run matches; filter: .*metrics\.`test_f1_macro` >= 0\.5/);
  });

  it("throws NoEligibleRunError when the matches lack the order metric, or the experiment is missing", async () => {
    const lacking = fakeSearch([{ runs: [run("a", {})] }]);
    await expect(selectChampion({ client: lacking.client, metrics, experimentName: "e", studyId: "s1" })).rejects.toThrow(
      /no matching run has a value for the order metric 'cv_f1_macro_mean'/,
    );
    const missing = fakeSearch([], false);
    await expect(selectChampion({ client: missing.client, metrics, experimentName: "e", studyId: "s1" })).rejects.toThrow(/experiment does not exist/);
  });
});

describe("formatTopRuns", () => {
  it("prints rank, run id, trial params and the order and tie-breaker metrics, champion marked", async () => {
    const { client } = fakeSearch([{ runs: [run("aaaa", { cv_f1_macro_mean: 0.91234, cv_f1_macro_std: 0.01 }), run("bb", { cv_f1_macro_mean: 0.8 })] }]);
    const selection = await selectChampion({ client, metrics, experimentName: "e", studyId: "s1" });
    const lines = formatTopRuns(selection.top, metrics).split("\n");
    expect(lines[0]).toMatch(/^rank\s+run id\s+params\s+cv_f1_macro_mean \(desc\)\s+cv_f1_macro_std \(asc\)$/);
    expect(lines[2]).toMatch(/^\*1\s+aaaa\s+C=4\s+0\.9123\s+0\.0100$/);
    expect(lines[3]).toMatch(/^ 2\s+bb\s+C=2\s+0\.8000\s+-$/);
    expect(lines.join("\n")).not.toContain("seed=");
  });
});

/** An in-memory registry that behaves like MLflow's for the calls registerChampion makes. */
function fakeRegistry(options: { pendingPolls?: number; fail?: boolean } = {}) {
  const versions: { name: string; version: string; run_id: string; source: string; polls: number }[] = [];
  const aliases = new Map<string, string>();
  const writes: string[] = [];
  const statusOf = (v: { polls: number }) => (options.fail ? "FAILED_REGISTRATION" : v.polls >= (options.pendingPolls ?? 0) ? "READY" : "PENDING_REGISTRATION");
  const client: RegistryClient = {
    getModelVersionByAlias: async (name, alias) => {
      const version = aliases.get(`${name}@${alias}`);
      const found = versions.find((v) => v.version === version);
      return found ? { name, version: found.version, run_id: found.run_id } : undefined;
    },
    createRegisteredModel: async () => {
      writes.push("createRegisteredModel");
      return "created";
    },
    searchModelVersions: async (filter) => versions.filter((v) => filter.includes(`run_id='${v.run_id}'`)).map((v) => ({ ...v, status: statusOf(v) })),
    createModelVersion: async ({ name, source, runId }) => {
      writes.push(`createModelVersion ${runId}`);
      const v = { name, version: String(versions.length + 1), run_id: runId, source, polls: 0 };
      versions.push(v);
      return { ...v, status: statusOf(v) };
    },
    getModelVersion: async (_name, version) => {
      const v = versions.find((x) => x.version === version);
      if (!v) throw new Error("no such version");
      v.polls++;
      return { ...v, status: statusOf(v) };
    },
    setAlias: async (name, alias, version) => {
      writes.push(`setAlias ${version}`);
      aliases.set(`${name}@${alias}`, version);
    },
  };
  return { client, writes, aliases };
}

describe("registerChampion", () => {
  const model = { name: "m", alias: "champion" };
  const quiet = { sleep: async () => {}, log: () => {} };

  it("registers, waits for READY, sets the alias; a second call writes nothing", async () => {
    const registry = fakeRegistry({ pendingPolls: 2 });
    const first = await registerChampion({ client: registry.client, model, champion: { runId: "r1", modelSource: "models:/m-1" }, ...quiet });
    expect(first).toMatchObject({ status: "updated", version: "1", createdVersion: true, previousVersion: undefined });
    expect(registry.writes).toEqual(["createRegisteredModel", "createModelVersion r1", "setAlias 1"]);
    const second = await registerChampion({ client: registry.client, model, champion: { runId: "r1", modelSource: "models:/m-1" }, ...quiet });
    expect(second).toMatchObject({ status: "unchanged", version: "1" });
    expect(registry.writes).toHaveLength(3);
  });

  it("moves the alias to a new champion and reuses a version already registered from that run", async () => {
    const registry = fakeRegistry();
    await registerChampion({ client: registry.client, model, champion: { runId: "r1", modelSource: "s1" }, ...quiet });
    await registry.client.createModelVersion({ name: "m", source: "s2", runId: "r2" }); // an interrupted earlier attempt
    const moved = await registerChampion({ client: registry.client, model, champion: { runId: "r2", modelSource: "s2" }, ...quiet });
    expect(moved).toMatchObject({ status: "updated", version: "2", previousVersion: "1", createdVersion: false });
    expect(registry.aliases.get("m@champion")).toBe("2");
  });

  it("fails clearly when the version fails to register, and when it stays pending too long", async () => {
    const failing = fakeRegistry({ fail: true });
    await expect(registerChampion({ client: failing.client, model, champion: { runId: "r", modelSource: "s" }, ...quiet })).rejects.toThrow(/m\/1 failed to register/);
    let clock = 0;
    const slow = fakeRegistry({ pendingPolls: 1000 });
    const pending = registerChampion({ client: slow.client, model, champion: { runId: "r", modelSource: "s" }, readyTimeoutMs: 5_000, now: () => (clock += 1_000), ...quiet });
    await expect(pending).rejects.toThrow(/m\/1 still PENDING_REGISTRATION after 5 s/);
    expect(slow.writes).not.toContain("setAlias 1");
  });
});
