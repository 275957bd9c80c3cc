import * as pulumi from "@pulumi/pulumi";
import type { MetricsConfig } from "../../config";
import { withTrackingReach } from "../shared/portForward";
import { MlflowClient } from "./mlflowClient";
import { registerChampion } from "./register";
import { selectChampion } from "./select";

/**
 * The select phase as a resource, so a single `pulumi up -s <stack>` (index.ts) can run
 * init -> train -> select -> deploy in one graph. It calls the same selection code as the driver's
 * select phase (this folder): Pulumi serializes the provider with the functions it calls, by value,
 * into the provider process it starts.
 */
export interface ChampionAliasArgs {
  readonly trackingUri: pulumi.Input<string>;
  readonly experimentName: string;
  readonly studyId: pulumi.Input<string>;
  readonly metrics: MetricsConfig;
  readonly credentials?: pulumi.Input<{ username: string; password: string }>;
  /**
   * On a cluster `trackingUri` answers only while this command (the tracking phase's
   * `kubectl port-forward`) runs: the provider runs it around the selection, as the driver's select does.
   */
  readonly portForwardCommand?: pulumi.Input<string>;
  /** The kubeconfig context the port-forward uses (the stack's `kubernetes.context`). */
  readonly kubeContext?: string;
}

export interface AliasState {
  trackingUri: string;
  experimentName: string;
  studyId: string;
  metrics: MetricsConfig;
  credentials?: { username: string; password: string };
  portForwardCommand?: string;
  kubeContext?: string;
  runId?: string;
  modelVersion?: string;
}

async function selectAndRegister(state: AliasState): Promise<AliasState> {
  return withTrackingReach(state, () => selectAndRegisterNow(state));
}

async function selectAndRegisterNow(state: AliasState): Promise<AliasState> {
  const client = new MlflowClient({ trackingUri: state.trackingUri, username: state.credentials?.username, password: state.credentials?.password });
  const selection = await selectChampion({ client, metrics: state.metrics, experimentName: state.experimentName, studyId: state.studyId });
  const registration = await registerChampion({
    client,
    model: state.metrics.registeredModel,
    champion: { runId: selection.champion.runId, modelSource: selection.champion.modelSource },
  });
  return { ...state, runId: registration.runId, modelVersion: registration.version };
}

const identity = (s: AliasState) => JSON.stringify([s.trackingUri, s.experimentName, s.studyId, s.metrics, s.credentials?.username ?? ""]);

/** Exported for the test that serializes it as Pulumi does and runs it in a fresh process. */
export const championAliasProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: AliasState) {
    const outs = await selectAndRegister(inputs);
    return { id: `${inputs.metrics.registeredModel.name}@${inputs.metrics.registeredModel.alias}`, outs };
  },
  async diff(_id: string, olds: AliasState, news: AliasState) {
    const aliasChanged = olds.metrics.registeredModel.name !== news.metrics.registeredModel.name || olds.metrics.registeredModel.alias !== news.metrics.registeredModel.alias;
    const changes = identity(olds) !== identity(news);
    return { changes, replaces: aliasChanged ? ["metrics"] : [] };
  },
  async update(_id: string, _olds: AliasState, news: AliasState) {
    return { outs: await selectAndRegister(news) };
  },
};

/** Points `<registered model>@<alias>` at the best eligible run of a study; outputs its version. */
export class ChampionAlias extends pulumi.dynamic.Resource {
  declare readonly runId: pulumi.Output<string>;
  declare readonly modelVersion: pulumi.Output<string>;
  constructor(name: string, args: ChampionAliasArgs, opts?: pulumi.CustomResourceOptions) {
    super(championAliasProvider, name, { ...args, runId: undefined, modelVersion: undefined }, { ...opts, additionalSecretOutputs: ["credentials"] }, "registry", "ChampionAlias");
  }
}
