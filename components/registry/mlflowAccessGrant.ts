import * as pulumi from "@pulumi/pulumi";
import { withTrackingReach } from "../shared/portForward";
import { grantServingAccess, grantTrainingAccess, type ServiceUserPasswords } from "./mlflowAccess";

/**
 * The driver's "MLflow users and permissions" step as a resource, so a single `pulumi up -s <stack>`
 * (index.ts) creates the training and serving users before the trainers and model servers log in as
 * them. The same functions as the driver's (./mlflowAccess.ts), carried by value into the provider.
 */
export interface MlflowAccessGrantArgs {
  readonly trackingUri: pulumi.Input<string>;
  readonly adminUser: string;
  readonly adminPassword: pulumi.Input<string>;
  readonly passwords: pulumi.Input<ServiceUserPasswords>;
  /** Before training: write access to the study's experiment; after select: read access to the registered model. */
  readonly grant: { readonly experiment: string } | { readonly registeredModel: string };
  /** On a cluster: the tracking phase's `kubectl port-forward` and the context it uses. */
  readonly portForwardCommand?: pulumi.Input<string>;
  readonly kubeContext?: string;
}

interface GrantState {
  trackingUri: string;
  adminUser: string;
  adminPassword: string;
  passwords: ServiceUserPasswords;
  grant: { experiment: string } | { registeredModel: string };
  portForwardCommand?: string;
  kubeContext?: string;
  changes?: string[];
}

async function apply(state: GrantState): Promise<GrantState> {
  const args = { trackingUri: state.trackingUri, adminUser: state.adminUser, adminPassword: state.adminPassword, passwords: state.passwords };
  const grant = state.grant;
  const changes = await withTrackingReach(state, () => ("experiment" in grant ? grantTrainingAccess(args, grant.experiment) : grantServingAccess(args, grant.registeredModel)));
  return { ...state, changes };
}

// Passwords are compared too: a rotated one must be set in MLflow before the workloads use it.
const identity = (s: GrantState) => JSON.stringify([s.trackingUri, s.adminUser, s.adminPassword, s.passwords, s.grant]);

/** Exported for the test that serializes it as Pulumi does. */
export const mlflowAccessGrantProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: GrantState) {
    const outs = await apply(inputs);
    return { id: "experiment" in inputs.grant ? `experiment/${inputs.grant.experiment}` : `registered-model/${inputs.grant.registeredModel}`, outs };
  },
  async diff(_id: string, olds: GrantState, news: GrantState) {
    return { changes: identity(olds) !== identity(news) };
  },
  async update(_id: string, _olds: GrantState, news: GrantState) {
    return { outs: await apply(news) };
  },
};

/** MLflow's training and serving users, with the permissions one stage of the pipeline needs. */
export class MlflowAccessGrant extends pulumi.dynamic.Resource {
  declare readonly changes: pulumi.Output<string[]>;
  constructor(name: string, args: MlflowAccessGrantArgs, opts?: pulumi.CustomResourceOptions) {
    super(mlflowAccessGrantProvider, name, { ...args, changes: undefined }, { ...opts, additionalSecretOutputs: ["adminPassword", "passwords"] }, "registry", "MlflowAccessGrant");
  }
}
