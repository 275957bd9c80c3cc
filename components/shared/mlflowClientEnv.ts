/**
 * The environment MLflow and its S3 client read, the same on every platform. Each platform fills the
 * secret variables from its own store (process env, Docker secret env, Kubernetes secretKeyRef), so
 * these functions say which variable takes which secret and never see a secret value.
 */

/** Variables an MLflow client (trainer, model server, the mlflow CLI) reads its server and login from. */
export const mlflowClientVars = {
  trackingUri: "MLFLOW_TRACKING_URI",
  username: "MLFLOW_TRACKING_USERNAME",
  password: "MLFLOW_TRACKING_PASSWORD",
} as const;

/** Plain variables plus, per secret variable, which secret it holds. `V` is `string` unless a value is only known at deployment. */
export interface EnvPlan<S extends string, V = string> {
  readonly env: Readonly<Record<string, V>>;
  readonly secretEnv: Readonly<Record<string, S>>;
}

/** The basic-auth login of an MLflow client: the user in plain text, the password from a secret. */
export function mlflowLoginEnv(username: string | undefined): EnvPlan<"trackingPassword"> {
  if (username === undefined) return { env: {}, secretEnv: {} };
  return { env: { [mlflowClientVars.username]: username }, secretEnv: { [mlflowClientVars.password]: "trackingPassword" } };
}

/** Everything a worker or model server needs to reach MLflow: its URI and, with auth, the login. */
export function mlflowClientEnv<U = string>(p: { readonly trackingUri: U; readonly username?: string }): EnvPlan<"trackingPassword", U | string> {
  const login = mlflowLoginEnv(p.username);
  return { env: { [mlflowClientVars.trackingUri]: p.trackingUri, ...login.env }, secretEnv: login.secretEnv };
}

/** How the MLflow server (or a bucket job) reaches its S3 artifact store. */
export interface S3Access {
  /** S3-compatible endpoint; omitted for AWS S3. */
  readonly endpointUrl?: string;
  readonly region?: string;
  /** Whether an access key pair is given (else the ambient credentials, e.g. IRSA or an instance role). */
  readonly hasCredentials: boolean;
}

export type S3SecretName = "objectStoreAccessKeyId" | "objectStoreSecretAccessKey";

/** The standard AWS variables boto3 reads, plus MLflow's own endpoint override. */
export function s3ClientEnv(access: S3Access): EnvPlan<S3SecretName> {
  return {
    env: {
      ...(access.endpointUrl ? { MLFLOW_S3_ENDPOINT_URL: access.endpointUrl } : {}),
      ...(access.region ? { AWS_DEFAULT_REGION: access.region } : {}),
    },
    secretEnv: access.hasCredentials ? { AWS_ACCESS_KEY_ID: "objectStoreAccessKeyId", AWS_SECRET_ACCESS_KEY: "objectStoreSecretAccessKey" } : {},
  };
}

/** Fills a plan's secret variables from values; a missing one is a programming error, named. */
export function resolveSecretEnv<S extends string>(plan: Pick<EnvPlan<S>, "secretEnv">, values: Partial<Readonly<Record<S, string>>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries<S>(plan.secretEnv).map(([name, secret]) => {
      const value = values[secret];
      if (value === undefined) throw new Error(`${name} needs the secret ${secret}, but none was given`);
      return [name, value];
    }),
  );
}
