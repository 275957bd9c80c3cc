import * as pulumi from "@pulumi/pulumi";
import type { TrainingFanoutArgs } from "../interfaces";
import { mlflowClientEnv, resolveSecretEnv } from "../shared/mlflowClientEnv";

/** The MLflow client env of a local worker or model server: plain env, and the password as secret env. */
export function localClientEnv(trackingUri: pulumi.Input<string>, credentials: TrainingFanoutArgs["trackingCredentials"]) {
  const plan = mlflowClientEnv({ trackingUri, username: credentials?.username });
  const secretEnv = credentials ? pulumi.secret(pulumi.output(credentials.password).apply((trackingPassword) => resolveSecretEnv(plan, { trackingPassword }))) : undefined;
  return { env: { ...plan.env, PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1" }, secretEnv };
}
