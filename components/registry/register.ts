import type { MlflowClient } from "./mlflowClient";
import type { ModelVersion } from "./mlflowTypes";

/** What registration needs from the client; tests pass a fake. */
export type RegistryClient = Pick<MlflowClient, "getModelVersionByAlias" | "createRegisteredModel" | "searchModelVersions" | "createModelVersion" | "getModelVersion" | "setAlias">;

export interface RegisterChampionArgs {
  readonly client: RegistryClient;
  readonly model: { readonly name: string; readonly alias: string };
  readonly champion: { readonly runId: string; readonly modelSource: string };
  /** How long a version may stay PENDING_REGISTRATION (default 5 min). */
  readonly readyTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  readonly log?: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export interface Registration {
  /** `unchanged`: the alias already pointed at a version of this run, nothing was written. */
  readonly status: "unchanged" | "updated";
  readonly name: string;
  readonly alias: string;
  readonly version: string;
  readonly runId: string;
  /** The version the alias pointed at before, if any. */
  readonly previousVersion?: string;
  /** False when an existing version of the run was reused (e.g. an earlier call stopped before setting the alias). */
  readonly createdVersion: boolean;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Makes `models:/<name>@<alias>` point at the champion run's model. Idempotent: a second call for
 * the same run changes nothing, and a call that follows an interrupted one reuses the version it
 * created instead of registering the model twice.
 */
export async function registerChampion(args: RegisterChampionArgs): Promise<Registration> {
  const { client, model, champion } = args;
  const log = args.log ?? (() => {});
  const current = await client.getModelVersionByAlias(model.name, model.alias);
  const base = { name: model.name, alias: model.alias, runId: champion.runId, previousVersion: current?.version };
  if (current?.run_id === champion.runId) {
    log(`${model.name}@${model.alias} already is version ${current.version} (run ${champion.runId}): unchanged`);
    return { ...base, status: "unchanged", version: current.version, createdVersion: false };
  }

  if ((await client.createRegisteredModel(model.name)) === "created") log(`created registered model ${model.name}`);
  const existing = await findVersionOfRun(client, model.name, champion.runId);
  let version: ModelVersion;
  if (existing) {
    log(`reusing version ${existing.version} of ${model.name}, already registered from run ${champion.runId}`);
    version = existing;
  } else {
    version = await client.createModelVersion({ name: model.name, source: champion.modelSource, runId: champion.runId });
    log(`registered ${champion.modelSource} as ${model.name} version ${version.version}`);
  }
  await waitUntilReady(args, version);
  await client.setAlias(model.name, model.alias, version.version);
  log(`${model.name}@${model.alias} -> version ${version.version}${current ? ` (was ${current.version})` : ""}`);
  return { ...base, status: "updated", version: version.version, createdVersion: !existing };
}

async function findVersionOfRun(client: RegistryClient, name: string, runId: string): Promise<ModelVersion | undefined> {
  const versions = await client.searchModelVersions(`name='${name}' and run_id='${runId}'`);
  const usable = versions.filter((v) => v.run_id === runId && v.status !== "FAILED_REGISTRATION");
  // Oldest first, so repeated calls keep choosing the same one.
  return usable.sort((a, b) => Number(a.version) - Number(b.version))[0];
}

async function waitUntilReady(args: RegisterChampionArgs, version: ModelVersion): Promise<void> {
  const sleep = args.sleep ?? sleepFor;
  const now = args.now ?? Date.now;
  const timeoutMs = args.readyTimeoutMs ?? 300_000;
  const interval = args.pollIntervalMs ?? 1_000;
  const started = now();
  let status = version.status;
  let message = version.status_message;
  while (status !== "READY") {
    if (status === "FAILED_REGISTRATION") throw new Error(`model version ${version.name}/${version.version} failed to register: ${message || "no reason given"}`);
    if (now() - started > timeoutMs) throw new Error(`model version ${version.name}/${version.version} still ${status} after ${Math.round(timeoutMs / 1000)} s`);
    args.log?.(`waiting for ${version.name} version ${version.version} to be READY (${status}, ${Math.round((now() - started) / 1000)} s)`);
    await sleep(interval);
    const latest = await args.client.getModelVersion(version.name, version.version);
    status = latest.status;
    message = latest.status_message;
  }
}
