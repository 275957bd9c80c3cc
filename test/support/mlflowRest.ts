/**
 * MLflow's REST API as tests see it: raw fetch, no selection code, so assertions about runs and the
 * registry are independent of the code under test. Optional basic-auth credentials.
 */

export interface MlflowRun {
  info: { run_id: string; status: string };
  data: { metrics?: { key: string; value: number }[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] };
}

export const metric = (run: MlflowRun, key: string) => run.data.metrics?.find((m) => m.key === key)?.value;
export const tag = (run: MlflowRun, key: string) => run.data.tags?.find((t) => t.key === key)?.value;

export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

export class MlflowRest {
  constructor(
    readonly trackingUri: string,
    private readonly credentials?: BasicCredentials,
  ) {}

  /** The raw answer, for tests about status codes; `credentials: null` sends none. */
  async fetch(endpointPath: string, body?: unknown, credentials: BasicCredentials | null | undefined = this.credentials, attempt = 1): Promise<Response> {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    if (credentials) headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
    const init: RequestInit = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
    try {
      return await fetch(`${this.trackingUri}/api/2.0/mlflow/${endpointPath}`, init);
    } catch (err) {
      // A keep-alive socket the server closed while idle fails once; a fresh connection is the real answer.
      if (attempt < 3) return this.fetch(endpointPath, body, credentials, attempt + 1);
      throw err;
    }
  }

  async call<T>(endpointPath: string, body?: unknown): Promise<T> {
    const res = await this.fetch(endpointPath, body);
    if (!res.ok) throw new Error(`${endpointPath}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** Every trial run of the study, page by page, filtered on the client: the test judges them itself. */
  async studyRuns(experimentName: string, studyId: string): Promise<MlflowRun[]> {
    const { experiment } = await this.call<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${encodeURIComponent(experimentName)}`);
    const runs: MlflowRun[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.call<{ runs?: MlflowRun[]; next_page_token?: string }>("runs/search", {
        experiment_ids: [experiment.experiment_id],
        max_results: 1000,
        page_token: pageToken,
      });
      runs.push(...(page.runs ?? []));
      pageToken = page.next_page_token;
    } while (pageToken);
    return runs.filter((r) => tag(r, "mlops.study_id") === studyId && tag(r, "mlops.role") === "trial");
  }

  /** The model version an alias points at. */
  async aliasVersion(model: string, alias: string): Promise<{ run_id: string; version: string; source: string }> {
    const { model_version } = await this.call<{ model_version: { run_id: string; version: string; source: string } }>(
      `registered-models/alias?name=${encodeURIComponent(model)}&alias=${encodeURIComponent(alias)}`,
    );
    return model_version;
  }
}
