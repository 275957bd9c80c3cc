/**
 * Selection benchmark: one study of 10,000 finished trial runs on the real PostgreSQL-backed
 * MLflow server, then `selectChampion` timed several times. The last line printed is
 * `select_10k_median_s=<seconds>`.
 *
 *   npx tsx bench/selectBench.ts [--runs 10000] [--repeats 7] [--concurrency 16] [--refill]
 *
 * Uses MLFLOW_TRACKING_URI when set, else starts scripts/services/mlflow.sh (and its stores). A
 * complete fill is kept (marked by a `bench-complete` run) and reused by later runs unless --refill.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { metricsConfigSchema } from "../config";
import { mlflowTags } from "../components/shared/studySpec";
import { MlflowClient } from "../components/registry/mlflowClient";
import { buildOrderBy, buildSearchFilter } from "../components/registry/searchQuery";
import { selectChampion } from "../components/registry/select";
import { fillStudy, type SyntheticTrial, seededRandom } from "./fillStudy";

const repoRoot = path.resolve(__dirname, "..");
const experimentName = "mlops-bench-select";

const benchMetrics = metricsConfigSchema.parse({
  filters: { metrics: [{ metric: "cv_f1_macro_mean", op: ">", value: 0.5 }] },
  thresholds: { test_f1_macro: 0.5 },
  orderBy: { metric: "cv_f1_macro_mean", direction: "desc" },
  tieBreakers: [
    { metric: "cv_f1_macro_std", direction: "asc" },
    { metric: "fit_time_seconds", direction: "asc" },
  ],
  registeredModel: { name: "mlops-bench" },
  showTop: 5,
});

/** Trials shaped like the trainer's: 5 fold scores, their mean/std, test scores, fit time, params. */
function syntheticTrials(count: number): SyntheticTrial[] {
  const random = seededRandom(42);
  return Array.from({ length: count }, (_, index) => {
    const folds = Array.from({ length: 5 }, () => 0.4 + random() * 0.55);
    const mean = folds.reduce((a, b) => a + b, 0) / folds.length;
    const std = Math.sqrt(folds.reduce((a, b) => a + (b - mean) ** 2, 0) / folds.length);
    const metrics: Record<string, number> = Object.fromEntries(folds.map((value, k) => [`cv_f1_macro_fold_${k}`, value]));
    Object.assign(metrics, {
      cv_f1_macro_mean: mean,
      cv_f1_macro_std: std,
      test_f1_macro: mean - 0.05 + random() * 0.1,
      test_accuracy: mean,
      fit_time_seconds: 0.1 + random() * 3,
    });
    return {
      metrics,
      params: {
        model_family: "random_forest",
        n_estimators: String(50 + (index % 20) * 10),
        max_depth: String(2 + (index % 13)),
        min_samples_leaf: String(1 + (index % 7)),
        seed: "42",
      },
      // About 1% of trials fail, as real studies have some.
      status: index % 97 === 13 ? "FAILED" : "FINISHED",
      modelSource: `runs:/bench-${index}/model`,
    };
  });
}

/** The champion computed from the generated trials themselves, to check the server's answer. */
function expectedChampionIndex(trials: readonly SyntheticTrial[]): number {
  const metric = (t: SyntheticTrial, key: string) => t.metrics[key] ?? Number.NaN;
  const better = (a: SyntheticTrial, b: SyntheticTrial) =>
    metric(a, "cv_f1_macro_mean") - metric(b, "cv_f1_macro_mean") ||
    metric(b, "cv_f1_macro_std") - metric(a, "cv_f1_macro_std") ||
    metric(b, "fit_time_seconds") - metric(a, "fit_time_seconds");
  let best = -1;
  trials.forEach((trial, index) => {
    const eligible = trial.status === "FINISHED" && metric(trial, "cv_f1_macro_mean") > 0.5 && metric(trial, "test_f1_macro") >= 0.5;
    if (eligible && (best < 0 || better(trial, trials[best] as SyntheticTrial) > 0)) best = index;
  });
  return best;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function trackingUri(): string {
  if (process.env.MLFLOW_TRACKING_URI) return process.env.MLFLOW_TRACKING_URI;
  console.log("starting the tracking server and its stores (scripts/services/mlflow.sh start)");
  execFileSync("bash", [path.join(repoRoot, "scripts/services/mlflow.sh"), "start"], { stdio: ["ignore", "inherit", "inherit"] });
  return execFileSync("bash", [path.join(repoRoot, "scripts/services/mlflow.sh"), "url"], { encoding: "utf8" }).trim();
}

/** The study of an earlier complete fill of this size (marked by its `bench-complete` run), if any. */
async function filledStudy(client: MlflowClient, experimentId: string, runs: number): Promise<string | undefined> {
  const filter = `tags.\`${mlflowTags.role}\` = 'bench-complete' and tags.\`${mlflowTags.studyId}\` LIKE 'bench-${runs}-%'`;
  const marker = await client.searchRuns({ experimentIds: [experimentId], filter, maxResults: 1 });
  return marker.runs[0]?.data.tags?.find((tag) => tag.key === mlflowTags.studyId)?.value;
}

async function fill(client: MlflowClient, experimentId: string, studyId: string, runs: number, concurrency: number): Promise<void> {
  const started = performance.now();
  let lastPrint = 0;
  console.log(`filling study ${studyId} with ${runs} runs (${concurrency} requests in flight)`);
  await fillStudy(
    {
      client,
      experimentId,
      studyId,
      concurrency,
      onProgress: (done, total) => {
        if (done - lastPrint < 500 && done !== total) return;
        lastPrint = done;
        const seconds = (performance.now() - started) / 1000;
        const rate = done / seconds;
        console.log(`  ${done}/${total} runs, ${seconds.toFixed(1)} s, ${rate.toFixed(0)} runs/s, ~${((total - done) / rate).toFixed(0)} s left`);
      },
    },
    syntheticTrials(runs),
  );
  await fillStudy({ client, experimentId, studyId }, [{ metrics: {}, role: "bench-complete", runName: "bench-complete" }]);
  console.log(`filled in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "10000" },
      repeats: { type: "string", default: "7" },
      concurrency: { type: "string", default: "16" },
      refill: { type: "boolean", default: false },
    },
  });
  const runs = Number(values.runs);
  const repeats = Math.max(5, Number(values.repeats));
  const client = new MlflowClient({ trackingUri: trackingUri() });
  const experimentId = await client.ensureExperiment(experimentName);
  // An interrupted fill leaves no marker: the next run fills a fresh study rather than adding to it.
  const previous = values.refill ? undefined : await filledStudy(client, experimentId, runs);
  const studyId = previous ?? `bench-${runs}-${Date.now()}`;
  if (previous) console.log(`reusing study ${studyId}: already filled with ${runs} runs (--refill to fill a new one)`);
  else await fill(client, experimentId, studyId, runs, Number(values.concurrency));

  const expected = expectedChampionIndex(syntheticTrials(runs));
  const seconds: number[] = [];
  let championId = "";
  for (let i = 1; i <= repeats; i++) {
    const started = performance.now();
    const selection = await selectChampion({ client, metrics: benchMetrics, experimentName, studyId });
    seconds.push((performance.now() - started) / 1000);
    championId = selection.champion.runId;
    const index = selection.champion.tags[mlflowTags.trialIndex];
    if (index !== String(expected)) throw new Error(`selectChampion chose trial ${index}, but the generated data's best eligible trial is ${expected}`);
    console.log(
      `selectChampion #${i}: ${(seconds.at(-1) ?? 0).toFixed(3)} s (champion ${championId} = trial ${index} as expected, cv_f1_macro_mean ${selection.champion.metrics.cv_f1_macro_mean?.toFixed(4)})`,
    );
  }
  // Where the time goes: the experiment lookup vs the one search (filters, joins, sort in SQL).
  const lookup: number[] = [];
  const search: number[] = [];
  const filter = buildSearchFilter(benchMetrics, studyId);
  const orderBy = buildOrderBy(benchMetrics);
  for (let i = 0; i < repeats; i++) {
    let started = performance.now();
    await client.getExperimentByName(experimentName);
    lookup.push((performance.now() - started) / 1000);
    started = performance.now();
    await client.searchRuns({ experimentIds: [experimentId], filter, orderBy, maxResults: benchMetrics.showTop });
    search.push((performance.now() - started) / 1000);
  }
  console.log(`breakdown (medians): experiments/get-by-name ${median(lookup).toFixed(3)} s, runs/search ${median(search).toFixed(3)} s`);
  console.log(`runs: ${seconds.map((s) => s.toFixed(3)).join(" ")}`);
  console.log(`select_10k_median_s=${median(seconds).toFixed(3)}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
