/**
 * The parts of MLflow's REST API 2.0 messages the select phase reads, as the server sends them
 * (snake_case, int64 timestamps as JSON numbers). Optional fields are those MLflow omits when empty.
 */

export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED";
export type ModelVersionStatus = "PENDING_REGISTRATION" | "FAILED_REGISTRATION" | "READY";

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface Metric {
  readonly key: string;
  /** MLflow sends NaN and infinities as the strings "NaN", "Infinity", "-Infinity". */
  readonly value: number | string | null;
  readonly timestamp: number;
  readonly step?: number;
}

/** A metric to log: MLflow's REST API cannot take NaN (JSON has no such number). */
export interface MetricInput {
  readonly key: string;
  readonly value: number;
  readonly timestamp: number;
  readonly step?: number;
}

export interface Experiment {
  readonly experiment_id: string;
  readonly name: string;
  readonly artifact_location?: string;
  readonly lifecycle_stage?: string;
}

export interface RunInfo {
  readonly run_id: string;
  readonly experiment_id: string;
  readonly run_name?: string;
  readonly status: RunStatus;
  readonly start_time?: number;
  readonly end_time?: number;
  readonly artifact_uri?: string;
  readonly lifecycle_stage?: string;
}

export interface Run {
  readonly info: RunInfo;
  readonly data: {
    readonly metrics?: readonly Metric[];
    readonly params?: readonly KeyValue[];
    readonly tags?: readonly KeyValue[];
  };
}

export interface ModelVersion {
  readonly name: string;
  readonly version: string;
  readonly source?: string;
  readonly run_id?: string;
  readonly status?: ModelVersionStatus;
  readonly status_message?: string;
  readonly aliases?: readonly string[];
}

export interface RegisteredModel {
  readonly name: string;
  readonly latest_versions?: readonly ModelVersion[];
  readonly aliases?: readonly { readonly alias: string; readonly version: string }[];
}

export interface SearchRunsRequest {
  readonly experimentIds: readonly string[];
  readonly filter?: string;
  readonly orderBy?: readonly string[];
  readonly maxResults?: number;
  readonly pageToken?: string;
}

export interface SearchRunsPage {
  readonly runs: readonly Run[];
  readonly nextPageToken?: string;
}

/** A run with its metrics, params and tags as maps, which is how the select phase reads them. */
export interface RunRecord {
  readonly runId: string;
  readonly runName?: string;
  readonly status: RunStatus;
  readonly startTime?: number;
  /** `null` for NaN or an infinity. */
  readonly metrics: Readonly<Record<string, number | null>>;
  readonly params: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
}

export function toRunRecord(run: Run): RunRecord {
  return {
    runId: run.info.run_id,
    runName: run.info.run_name,
    status: run.info.status,
    startTime: run.info.start_time,
    metrics: Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, typeof m.value === "number" && Number.isFinite(m.value) ? m.value : null])),
    params: Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value])),
    tags: Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value])),
  };
}
