import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/** Passwords a stack generates for what it runs itself (never the users' own, which come from config or env). */
export const generatedSecretNames = [
  "databasePassword",
  "objectStoreAccessKeyId",
  "objectStoreSecretKey",
  "authAdminPassword",
  // The least-privilege MLflow logins of trainers and model servers (driver/mlflowUsers.ts).
  "trainingUserPassword",
  "servingUserPassword",
  // Keys the digests of Secret values on kubernetes pod templates (kubernetes/trackingSecret.ts).
  "secretDigestKey",
] as const;
export type GeneratedSecretName = (typeof generatedSecretNames)[number];
export type GeneratedSecretValues = Partial<Record<GeneratedSecretName, string>>;

/** Secrets only the tracking phase's own resources use; training and serving never read them from its stack. */
export const trackingPhaseOnlySecrets: ReadonlySet<GeneratedSecretName> = new Set<GeneratedSecretName>(["secretDigestKey"]);

/** 20/40 as AWS shapes access key pairs (MinIO accepts them); 32 letters and digits are ~190 bits. */
const lengths: Readonly<Record<GeneratedSecretName, number>> = {
  databasePassword: 32,
  objectStoreAccessKeyId: 20,
  objectStoreSecretKey: 40,
  authAdminPassword: 32,
  trainingUserPassword: 32,
  servingUserPassword: 32,
  secretDigestKey: 32,
};

/**
 * Every argument that shapes a password. Outside a rotation they are all ignored once the password
 * exists, so neither a changed default here nor a provider upgrade can replace a password by accident.
 */
export const shapeArgs = ["length", "special", "upper", "lower", "numeric", "number", "minUpper", "minLower", "minNumeric", "minSpecial", "overrideSpecial", "keepers"];

/**
 * Letters and digits only: these values go unescaped into connection URLs, env files, MLflow's
 * basic_auth.ini and S3 signatures. `rotation` (a fresh token per explicit rotation) is the keeper
 * whose change replaces the password.
 */
export function passwordArgs(name: GeneratedSecretName, rotation?: string): random.RandomPasswordArgs {
  return {
    length: lengths[name],
    special: false,
    upper: true,
    lower: true,
    numeric: true,
    minUpper: 1,
    minLower: 1,
    minNumeric: 1,
    ...(rotation === undefined ? {} : { keepers: { rotation } }),
  };
}

/** Outside a rotation every shape argument is frozen; a rotation lets the new keeper replace the password. */
export const passwordOptions = (rotation?: string): pulumi.CustomResourceOptions => (rotation === undefined ? { ignoreChanges: shapeArgs } : {});

export interface GeneratedSecretsArgs {
  /** The passwords this stack needs (see `programs/secrets.ts`). */
  readonly names: readonly GeneratedSecretName[];
  /**
   * Values a stack had before it generated its own (the old `.pipeline/secrets/<stack>.json`): kept as
   * they are, encrypted in the state, until the next rotation. Ignored when rotating.
   */
  readonly adopted?: GeneratedSecretValues;
  /** Set only by an explicit rotation: every password is replaced. */
  readonly rotation?: string;
}

export type SecretSource = "adopted" | "random";

/** Where each password comes from: an adopted value outside a rotation, else a RandomPassword. */
export function planGeneratedSecrets(args: Pick<GeneratedSecretsArgs, "names" | "adopted" | "rotation">): Record<string, SecretSource> {
  const plan: Record<string, SecretSource> = {};
  for (const name of args.names) plan[name] = args.rotation === undefined && args.adopted?.[name] !== undefined ? "adopted" : "random";
  return plan;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The stack's own passwords as `random.RandomPassword` resources: generated on the first `up`, kept in the
 * encrypted state afterwards, replaced only when `rotation` changes. Every value is a Pulumi secret.
 */
export class GeneratedSecrets extends pulumi.ComponentResource {
  readonly values: Readonly<Partial<Record<GeneratedSecretName, pulumi.Output<string>>>>;
  /** The adopted values still in use, for the driver to hand back on the next run (a secret). */
  readonly adopted: pulumi.Output<GeneratedSecretValues>;

  constructor(name: string, args: GeneratedSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:shared:GeneratedSecrets", name, {}, opts);
    const unknown = args.names.filter((n) => !(generatedSecretNames as readonly string[]).includes(n));
    if (unknown.length > 0) throw new Error(`GeneratedSecrets: unknown secret name(s) ${unknown.join(", ")}; expected ${generatedSecretNames.join(", ")}`);
    const values: Partial<Record<GeneratedSecretName, pulumi.Output<string>>> = {};
    const kept: GeneratedSecretValues = {};
    for (const [secret, source] of Object.entries(planGeneratedSecrets(args)) as [GeneratedSecretName, SecretSource][]) {
      if (source === "adopted") {
        kept[secret] = args.adopted?.[secret];
        values[secret] = pulumi.secret(args.adopted?.[secret] ?? "");
        continue;
      }
      const password = new random.RandomPassword(`${name}-${kebab(secret)}`, passwordArgs(secret, args.rotation), { parent: this, ...passwordOptions(args.rotation) });
      values[secret] = pulumi.secret(password.result);
    }
    this.values = values;
    this.adopted = pulumi.secret(kept);
    this.registerOutputs({});
  }
}

/** How the tracking phase treats its passwords on this run; decided by the driver (driver/stackSecrets.ts). */
export interface GeneratedSecretsPlan {
  /** Values from before the stack generated its own, kept as they are (encrypted) until a rotation. */
  readonly adopted?: GeneratedSecretValues;
  /** A fresh token on an explicit rotation: every generated password is replaced. */
  readonly rotation?: string;
}
