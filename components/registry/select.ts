import type { MetricsConfig } from "../../config";
import { mlflowTags } from "../shared/studySpec";
import type { MlflowClient } from "./mlflowClient";
import { type RunRecord, toRunRecord } from "./mlflowTypes";
import { buildOrderBy, buildSearchFilter } from "./searchQuery";

/** What selection needs from the client; tests pass a fake. */
export type RunSearchClient = Pick<MlflowClient, "getExperimentByName" | "searchRuns">;

export interface SelectChampionArgs {
  readonly client: RunSearchClient;
  readonly metrics: MetricsConfig;
  readonly experimentName: string;
  readonly studyId: string;
}

export interface RankedRun extends RunRecord {
  /** 1 for the champion. */
  readonly rank: number;
  /** What to register: the run's `mlops.model_source` tag, else `runs:/<id>/model`. */
  readonly modelSource: string;
}

export interface Selection {
  readonly experimentId: string;
  /** The filter and order sent to the server, for logs and error messages. */
  readonly filter: string;
  readonly orderBy: readonly string[];
  readonly champion: RankedRun;
  /** The best `showTop` eligible runs, champion first. */
  readonly top: readonly RankedRun[];
}

/** No run of the study passes the filters: the driver prints the message and exits non-zero. */
export class NoEligibleRunError extends Error {
  constructor(
    readonly experimentName: string,
    readonly studyId: string,
    readonly filter: string,
    reason: string,
  ) {
    super(`no eligible run in experiment '${experimentName}' for study ${studyId}: ${reason}; filter: ${filter}`);
    this.name = "NoEligibleRunError";
  }
}

/** Pages are only followed if the server returns fewer runs than asked with a next-page token. */
const maxPages = 10;

/**
 * Asks the tracking server for the best `showTop` runs of the study in ONE search: filters,
 * thresholds and ordering all run server-side, so the cost does not depend on how many runs the
 * study has. The champion is the first run; runs without a finite order metric are not eligible.
 */
export async function selectChampion(args: SelectChampionArgs): Promise<Selection> {
  const { client, metrics, experimentName, studyId } = args;
  const filter = buildSearchFilter(metrics, studyId);
  const orderBy = buildOrderBy(metrics);
  const experiment = await client.getExperimentByName(experimentName);
  if (!experiment) throw new NoEligibleRunError(experimentName, studyId, filter, "the experiment does not exist (has the study been trained?)");

  const wanted = metrics.showTop;
  const records: RunRecord[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < maxPages && records.length < wanted; page++) {
    const result = await client.searchRuns({ experimentIds: [experiment.experiment_id], filter, orderBy, maxResults: wanted - records.length, pageToken });
    records.push(...result.runs.map(toRunRecord));
    pageToken = result.nextPageToken;
    if (!pageToken || result.runs.length === 0) break;
  }

  const orderMetric = metrics.orderBy.metric;
  // Missing or NaN order metrics sort last on the server, so the eligible runs are a prefix.
  const eligible = records.filter((run) => isFiniteNumber(run.metrics[orderMetric]));
  const top = eligible.slice(0, wanted).map((run, index): RankedRun => ({ ...run, rank: index + 1, modelSource: modelSourceOf(run) }));
  const champion = top[0];
  if (!champion) {
    const reason = records.length === 0 ? "no FINISHED trial run matches" : `no matching run has a value for the order metric '${orderMetric}'`;
    throw new NoEligibleRunError(experimentName, studyId, filter, reason);
  }
  return { experimentId: experiment.experiment_id, filter, orderBy, champion, top };
}

export function modelSourceOf(run: RunRecord): string {
  return run.tags[mlflowTags.modelSource] || `runs:/${run.runId}/model`;
}

function isFiniteNumber(value: number | null | undefined): value is number {
  return typeof value === "number" && Number.isFinite(value);
}
