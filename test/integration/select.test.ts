import { beforeAll, describe, expect, it } from "vitest";
import { fillStudy, type SyntheticTrial } from "../../bench/fillStudy";
import { type MetricsConfig, metricsConfigSchema } from "../../config";
import { MlflowClient } from "../../components/registry/mlflowClient";
import { registerChampion } from "../../components/registry/register";
import { NoEligibleRunError, selectChampion } from "../../components/registry/select";
import { servicesUnavailableReason, startTrackingServices } from "../../scripts/services/testServices";
import { skipOrFailInCI } from "../support/skips";

// Champion selection against a real MLflow server (PostgreSQL backend) filled over its REST API.
const skipped = skipOrFailInCI("selection integration tests", servicesUnavailableReason());

const suffix = `${Date.now()}-${process.pid}`;
const experimentName = `select-it-${suffix}`;

const config = (overrides: Record<string, unknown> = {}): MetricsConfig =>
  metricsConfigSchema.parse({
    filters: { metrics: [{ metric: "cv_f1_macro_mean", op: ">", value: 0.5 }] },
    thresholds: { test_f1_macro: 0.5 },
    orderBy: { metric: "cv_f1_macro_mean", direction: "desc" },
    tieBreakers: [
      { metric: "cv_f1_macro_std", direction: "asc" },
      { metric: "fit_time_seconds", direction: "asc" },
    ],
    registeredModel: { name: `select-it-model-${suffix}` },
    showTop: 3,
    ...overrides,
  });

const trial = (mean: number, extra: Partial<SyntheticTrial> & { std?: number; fit?: number; test?: number } = {}): SyntheticTrial => ({
  metrics: { cv_f1_macro_mean: mean, cv_f1_macro_std: extra.std ?? 0.05, fit_time_seconds: extra.fit ?? 1, test_f1_macro: extra.test ?? mean },
  params: { n_estimators: String(Math.round(mean * 1000)), model_family: "random_forest" },
  ...extra,
});

describe.skipIf(skipped)("selectChampion on a real MLflow server", () => {
  let client: MlflowClient;
  let experimentId: string;
  const ids: Record<string, string[]> = {};

  const fill = async (studyId: string, trials: readonly SyntheticTrial[]) => {
    ids[studyId] = await fillStudy({ client, experimentId, studyId, concurrency: 8 }, trials);
    return ids[studyId] as string[];
  };

  beforeAll(async () => {
    client = new MlflowClient({ trackingUri: startTrackingServices().trackingUri });
    experimentId = await client.ensureExperiment(experimentName);
    // Study "main": the best run is logged FIRST, so MLflow's default order (newest first) puts it
    // on the last page; decoys that must never win are logged after it.
    await fill("main", [
      trial(0.95, { std: 0.02 }), // 0: the champion
      ...Array.from({ length: 30 }, (_, i) => trial(0.6 + i * 0.01)), // 1..30: ordinary trials
      trial(0.99, { status: "FAILED" }), // 31: failed
      trial(0.99, { status: "RUNNING" }), // 32: unfinished
      trial(0.99, { role: "study" }), // 33: the study's parent run, not a trial
      trial(0.98, { test: 0.4 }), // 34: below the test_f1_macro threshold
    ]);
    await fill("other-study", [trial(0.999)]);
    // Study "ties": equal order metric; std then fit time decide, then the run id among five exact
    // ties (logged oldest first, so MLflow's own start_time fallback would almost surely differ).
    await fill("ties", [trial(0.9, { std: 0.05, fit: 1 }), trial(0.9, { std: 0.01, fit: 5 }), ...Array.from({ length: 5 }, () => trial(0.9, { std: 0.01, fit: 2 }))]);
    await fill("missing-metric", [{ metrics: { test_f1_macro: 0.9 } }, trial(0.7)]);
    await fill("only-missing", [{ metrics: { test_f1_macro: 0.9 } }]);
  });

  it("finds the best run although MLflow's default order puts it beyond the first page", async () => {
    const firstPage = await client.searchRuns({ experimentIds: [experimentId], filter: "tags.`mlops.study_id` = 'main'", maxResults: 3 });
    expect(firstPage.nextPageToken).toBeDefined();
    expect(firstPage.runs.map((r) => r.info.run_id)).not.toContain(ids.main?.[0]);

    const selection = await selectChampion({ client, metrics: config(), experimentName, studyId: "main" });
    expect(selection.champion.runId).toBe(ids.main?.[0]);
    expect(selection.champion.metrics.cv_f1_macro_mean).toBeCloseTo(0.95);
    expect(selection.top.map((r) => r.runId)).toEqual([ids.main?.[0], ids.main?.[30], ids.main?.[29]]);
  });

  it("never picks failed or unfinished runs, the study's parent run, other studies' runs or runs under a threshold", async () => {
    const selection = await selectChampion({ client, metrics: config({ showTop: 100 }), experimentName, studyId: "main" });
    const chosen = new Set(selection.top.map((r) => r.runId));
    for (const decoy of [31, 32, 33, 34]) expect(chosen.has(ids.main?.[decoy] as string), `decoy ${decoy}`).toBe(false);
    expect(chosen.has(ids["other-study"]?.[0] as string)).toBe(false);
    expect(selection.top).toHaveLength(31);
  });

  it("breaks ties with the configured tie-breakers, then the run id", async () => {
    const selection = await selectChampion({ client, metrics: config({ showTop: 7 }), experimentName, studyId: "ties" });
    const tiedById = (ids.ties ?? []).slice(2).sort();
    expect(selection.top.map((r) => r.runId)).toEqual([...tiedById, ids.ties?.[1], ids.ties?.[0]]);
    // Turning the std tie-breaker around changes the winner: the order really comes from the config.
    const reversed = await selectChampion({
      client,
      metrics: config({ tieBreakers: [{ metric: "cv_f1_macro_std", direction: "desc" }] }),
      experimentName,
      studyId: "ties",
    });
    expect(reversed.champion.runId).toBe(ids.ties?.[0]);
  });

  it("sorts runs without the order metric last, in either direction", async () => {
    const unfiltered = { filters: { metrics: [], params: [] }, thresholds: {} };
    for (const direction of ["desc", "asc"] as const) {
      const selection = await selectChampion({
        client,
        metrics: config({ ...unfiltered, orderBy: { metric: "cv_f1_macro_mean", direction } }),
        experimentName,
        studyId: "missing-metric",
      });
      expect(selection.champion.runId).toBe(ids["missing-metric"]?.[1]);
      expect(selection.top).toHaveLength(1);
    }
    await expect(selectChampion({ client, metrics: config(unfiltered), experimentName, studyId: "only-missing" })).rejects.toThrow(
      /no matching run has a value for the order metric 'cv_f1_macro_mean'/,
    );
  });

  it("throws NoEligibleRunError naming the filters when nothing passes", async () => {
    const error = await selectChampion({ client, metrics: config({ thresholds: { test_f1_macro: 0.9999 } }), experimentName, studyId: "main" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoEligibleRunError);
    expect(String(error)).toContain("no FINISHED trial run matches");
    expect(String(error)).toContain("metrics.`test_f1_macro` >= 0.9999");
    expect(String(error)).toContain("tags.`mlops.study_id` = 'main'");
  });

  it("registers the champion, points the alias at it, and a second call changes nothing", async () => {
    const metrics = config();
    const model = metrics.registeredModel;
    const selection = await selectChampion({ client, metrics, experimentName, studyId: "main" });
    const first = await registerChampion({ client, model, champion: selection.champion });
    expect(first).toMatchObject({ status: "updated", version: "1", createdVersion: true, runId: ids.main?.[0] });
    const aliased = await client.getModelVersionByAlias(model.name, model.alias);
    expect(aliased).toMatchObject({ version: "1", run_id: ids.main?.[0], source: `runs:/${ids.main?.[0]}/model`, status: "READY" });

    const second = await registerChampion({ client, model, champion: selection.champion });
    expect(second).toMatchObject({ status: "unchanged", version: "1" });
    expect(await client.searchModelVersions(`name='${model.name}'`)).toHaveLength(1);

    // A new champion moves the alias to a new version; the old one stays.
    const ties = await selectChampion({ client, metrics, experimentName, studyId: "ties" });
    const moved = await registerChampion({ client, model, champion: ties.champion });
    expect(moved).toMatchObject({ status: "updated", version: "2", previousVersion: "1" });
    expect((await client.getModelVersionByAlias(model.name, model.alias))?.run_id).toBe(ties.champion.runId);
    expect((await client.getModelVersion(model.name, "1")).run_id).toBe(ids.main?.[0]);
    expect((await client.getLatestVersions(model.name)).map((v) => v.version)).toContain("2");
  });
});
