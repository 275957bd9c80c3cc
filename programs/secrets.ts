import * as pulumi from "@pulumi/pulumi";
import { type GeneratedSecretName, GeneratedSecrets, type GeneratedSecretsPlan, type GeneratedSecretValues, trackingPhaseOnlySecrets } from "../components/shared/generatedSecrets";

export type { GeneratedSecretsPlan };
import type { StackConfig } from "../config";
import { type PhaseContext, type PhaseSecrets, phaseStackName } from "./context";

/**
 * Generated passwords belong to the tracking phase: it creates them (`random.RandomPassword`, see
 * components/shared/generatedSecrets.ts) and exports them as the secret output `generatedSecrets`;
 * training and serving read that output through a StackReference. Users' own passwords (env or config)
 * always win and are never generated.
 */

/** The tracking phase's outputs that carry the passwords (both secret). */
export const generatedSecretsOutput = "generatedSecrets";
export const adoptedSecretsOutput = "adoptedSecrets";

/** Which secrets the user provided: as Outputs in programs, as plain values in the driver. */
type Provided = Readonly<Partial<Record<keyof PhaseSecrets, unknown>>>;

/** The passwords the stack generates: for what it runs itself, unless the user provided them. */
export function generatedSecretsNeeded(config: StackConfig, provided: Provided): GeneratedSecretName[] {
  const { database, objectStore, auth } = config.tracking;
  const names: GeneratedSecretName[] = [];
  // A managed external database's role is the stack's own too (components/external/externalPostgres.ts).
  const ownsRole = database.kind === "inStack" || (database.kind === "external" && database.manage);
  if (ownsRole && !provided.databasePassword) names.push("databasePassword");
  if (objectStore.kind === "inStack" && !provided.objectStoreCredentials) names.push("objectStoreAccessKeyId", "objectStoreSecretKey");
  if (auth.enabled && !provided.authAdminPassword) names.push("authAdminPassword");
  // Generated (only the driver ever sets them in MLflow: driver/mlflowUsers.ts); render mode passes throwaway ones.
  if (auth.enabled && !provided.trainingUserPassword) names.push("trainingUserPassword");
  if (auth.enabled && !provided.servingUserPassword) names.push("servingUserPassword");
  if (config.platform === "kubernetes" && !provided.secretDigestKey) names.push("secretDigestKey");
  return names;
}

type SecretOutputs = Partial<Record<GeneratedSecretName, pulumi.Output<string>>>;

/** Generated values as the programs' PhaseSecrets, the user's own on top (an absent one never hides a generated one). */
function mergeSecrets(values: SecretOutputs, provided: PhaseSecrets): PhaseSecrets {
  const { databasePassword, objectStoreAccessKeyId: id, objectStoreSecretKey: key, authAdminPassword, trainingUserPassword, servingUserPassword, secretDigestKey } = values;
  const keys = id && key ? pulumi.secret(pulumi.all([id, key]).apply(([accessKeyId, secretAccessKey]) => ({ accessKeyId, secretAccessKey }))) : undefined;
  return {
    ...provided,
    databasePassword: provided.databasePassword ?? databasePassword,
    objectStoreCredentials: provided.objectStoreCredentials ?? keys,
    authAdminPassword: provided.authAdminPassword ?? authAdminPassword,
    databaseAdminPassword: provided.databaseAdminPassword,
    trainingUserPassword: provided.trainingUserPassword ?? trainingUserPassword,
    servingUserPassword: provided.servingUserPassword ?? servingUserPassword,
    secretDigestKey: provided.secretDigestKey ?? secretDigestKey,
  };
}

/**
 * Tracking phase: creates (or keeps) the stack's passwords. Returns the context the server is built
 * with and the stack outputs that hand the passwords to later phases and to the driver.
 */
export function withGeneratedSecrets(ctx: PhaseContext): { ctx: PhaseContext; outputs: Record<string, pulumi.Output<GeneratedSecretValues>> } {
  const names = generatedSecretsNeeded(ctx.config, ctx.secrets);
  const plan = ctx.generatedSecrets ?? {};
  const generated = new GeneratedSecrets(`${ctx.stack}-secrets`, { names, adopted: plan.adopted, rotation: plan.rotation });
  const all = pulumi.secret(pulumi.all(generated.values) as pulumi.Output<GeneratedSecretValues>);
  return {
    ctx: { ...ctx, secrets: mergeSecrets(generated.values, ctx.secrets) },
    outputs: { [generatedSecretsOutput]: all, [adoptedSecretsOutput]: generated.adopted },
  };
}

/** Training and serving: the passwords the tracking phase generated, read from its stack (secret). */
export function withTrackingStackSecrets(ctx: PhaseContext): PhaseContext {
  const names = generatedSecretsNeeded(ctx.config, ctx.secrets).filter((name) => !trackingPhaseOnlySecrets.has(name));
  if (names.length === 0) return ctx;
  const tracking = phaseStackName(ctx.stack, "tracking");
  // A bare stack name is the stack of this project (same backend, same organization).
  const ref = new pulumi.StackReference(`${tracking}-secrets`, { name: tracking });
  const stored = ref.getOutput(generatedSecretsOutput) as pulumi.Output<GeneratedSecretValues | undefined>;
  const values: SecretOutputs = {};
  for (const name of names) {
    values[name] = pulumi.secret(
      stored.apply((all) => {
        const value = all?.[name];
        if (!value) throw new Error(`stack ${tracking} holds no generated ${name}: run the init phase first (npm run pipeline -- --stack ${ctx.stack} --phase init)`);
        return value;
      }),
    );
  }
  return { ...ctx, secrets: mergeSecrets(values, ctx.secrets) };
}
