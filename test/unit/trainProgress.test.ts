import { describe, expect, it } from "vitest";
import type { Run, SearchRunsRequest } from "../../components/registry/mlflowTypes";
import { formatDuration, formatTrainProgress, progressFromRun, progressMetrics, readTrainProgress, type TrainProgress } from "../../programs/trainProgress";

const progress = (p: Partial<TrainProgress> = {}): TrainProgress => ({ finished: 5, pruned: 1, failed: 1, running: 2, budget: 20, foldFits: 31, ...p });

function studyRun(values: Record<string, number | string>): Run {
  return { info: { run_id: "s", experiment_id: "1", status: "FINISHED" }, data: { metrics: Object.entries(values).map(([key, value]) => ({ key, value, timestamp: 0 })) } };
}

describe("formatTrainProgress", () => {
  it("counts settled trials out of the budget and projects the rest at the average pace", () => {
    // 7 settled in 70 s: 13 left at 10 s each.
    expect(formatTrainProgress(progress(), 70)).toBe("trials 7/20 (5 finished, 1 pruned, 1 failed; 2 running), 31 fold fits, ETA 2m 10s");
  });

  it("says when nothing is known yet and when everything is settled", () => {
    expect(formatTrainProgress(undefined, 4)).toBe("trials: waiting for the first result (4s elapsed)");
    expect(formatTrainProgress(progress({ finished: 0, pruned: 0, failed: 0 }), 30)).toContain("ETA unknown");
    expect(formatTrainProgress(progress({ finished: 18, running: 0 }), 300)).toBe("trials 20/20 (18 finished, 1 pruned, 1 failed), 31 fold fits, all settled");
  });

  it("formats durations for a progress line", () => {
    expect([formatDuration(9.4), formatDuration(245), formatDuration(3725), formatDuration(-3)]).toEqual(["9s", "4m 05s", "1h 02m", "0s"]);
  });
});

describe("reading progress from the study run", () => {
  it("reads the workers' metrics, and nothing before the first report", () => {
    const values = {
      [progressMetrics.finished]: 3,
      [progressMetrics.pruned]: 2,
      [progressMetrics.failed]: 0,
      [progressMetrics.running]: 1,
      [progressMetrics.budget]: 12,
      [progressMetrics.foldFits]: 19,
    };
    expect(progressFromRun(studyRun(values))).toEqual({ finished: 3, pruned: 2, failed: 0, running: 1, budget: 12, foldFits: 19 });
    expect(progressFromRun(studyRun({ cv_f1_macro_mean: 0.9 }))).toBeUndefined();
  });

  it("asks MLflow for the one study run of the study", async () => {
    const requests: SearchRunsRequest[] = [];
    const client = {
      async searchRuns(request: SearchRunsRequest) {
        requests.push(request);
        return { runs: [studyRun({ [progressMetrics.budget]: 4, [progressMetrics.finished]: 1 })] };
      },
    };
    expect(await readTrainProgress(client, "7", "dev-0123456789")).toMatchObject({ finished: 1, budget: 4 });
    expect(requests).toEqual([
      { experimentIds: ["7"], filter: "tags.`mlops.study_id` = 'dev-0123456789' and tags.`mlops.role` = 'study'", orderBy: ["attributes.start_time ASC"], maxResults: 1 },
    ]);
    expect(await readTrainProgress({ searchRuns: async () => ({ runs: [] }) }, "7", "x")).toBeUndefined();
  });
});
