/**
 * `pulumi up -s <stack>`: the whole pipeline as one stack, from the same components and phase
 * programs the Automation-API driver (`npm run pipeline`) runs phase by phase.
 */
import * as pulumi from "@pulumi/pulumi";
import { ChampionAlias } from "./components/registry/championAlias";
import { MlflowAccessGrant } from "./components/registry/mlflowAccessGrant";
import { localPaths } from "./components/local/paths";
import { ConfigError, loadMetricsFor, parseStackConfig, type SecretKey, type StackConfig, secretConfigKey } from "./config";
import type { PhaseContext, PhaseSecrets } from "./programs/context";
import { withGeneratedSecrets } from "./programs/secrets";
import { championModelUri, servingProgram } from "./programs/serving";
import { requireManagedDatabaseSecrets, trackingProgram } from "./programs/tracking";
import { trainingProgram } from "./programs/training";

const projectDir = __dirname;
const stack = pulumi.getStack();

/**
 * Whether the engine sent `key` decrypted from a `secure:` value. The SDK knows (PULUMI_CONFIG_SECRET_KEYS)
 * but types the check as internal; test/unit/indexProgram.test.ts fails if it ever goes away.
 */
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret: (key: string) => boolean }).isConfigSecret;

/**
 * Config values arrive as strings (objects JSON-encoded), secrets decrypted; parse them once through the
 * zod schemas, with each secret back in its `{ secure }` form so validation judges it as the file has it.
 */
function readConfig(): StackConfig {
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(pulumi.runtime.allConfig())) {
    if (isConfigSecret(key)) {
      values[key] = { secure: "(decrypted by Pulumi, read with getSecret)" };
      continue;
    }
    try {
      values[key] = JSON.parse(raw);
    } catch {
      values[key] = raw;
    }
  }
  return parseStackConfig(values, `Pulumi.${stack}.yaml`);
}

/**
 * The user's secrets, set with `pulumi config set --secret mlops:<key>` under the names of
 * config/stackSecrets.ts, or the names the config gave them; the rest are RandomPasswords (programs/secrets.ts).
 */
function readSecrets(config: StackConfig): PhaseSecrets {
  const cfg = new pulumi.Config("mlops");
  const key = (name: SecretKey) => secretConfigKey(config.tracking, name);
  const keyPair = cfg.getSecret(key("s3AccessKeyId"))
    ? pulumi
        .all([cfg.requireSecret(key("s3AccessKeyId")), cfg.requireSecret(key("s3SecretAccessKey"))])
        .apply(([accessKeyId, secretAccessKey]) => ({ accessKeyId, secretAccessKey }))
    : undefined;
  return {
    databasePassword: cfg.getSecret(key("databasePassword")),
    objectStoreCredentials: keyPair ? pulumi.secret(keyPair) : undefined,
    authAdminPassword: cfg.getSecret(key("authAdminPassword")),
    databaseAdminPassword: cfg.getSecret(key("databaseAdminPassword")),
    servingApiKey: cfg.getSecret(key("servingApiKey")),
  };
}

function program() {
  const config = readConfig();
  const metrics = loadMetricsFor(config.training, projectDir);
  const paths = localPaths(projectDir, stack, config.training.requirements);
  const given: PhaseContext = { stack, config, paths, secrets: readSecrets(config) };
  requireManagedDatabaseSecrets(given);
  const { ctx } = withGeneratedSecrets(given);

  const tracking = trackingProgram(ctx);
  // On kubernetes MLflow answers this machine only through the tracking phase's port-forward.
  const reach = {
    trackingUri: tracking.driverTrackingUri,
    portForwardCommand: tracking.portForwardCommand,
    kubeContext: config.platform === "kubernetes" ? config.kubernetes.context : undefined,
  };
  // With auth on, trainers and model servers log in as MLflow users that must exist first (as the driver's
  // "MLflow users and permissions" steps do): the values they need wait for these grants.
  const grant = (role: string, what: { experiment: string } | { registeredModel: string }, opts?: pulumi.CustomResourceOptions) => {
    const { authAdminPassword, trainingUserPassword, servingUserPassword } = ctx.secrets;
    if (!config.tracking.auth.enabled || !authAdminPassword || !trainingUserPassword || !servingUserPassword) return undefined;
    const passwords = pulumi.all([trainingUserPassword, servingUserPassword]).apply(([training, serving]) => ({ training, serving }));
    return new MlflowAccessGrant(
      `${stack}-mlflow-access-${role}`,
      { ...reach, adminUser: config.tracking.auth.adminUser, adminPassword: authAdminPassword, passwords, grant: what },
      opts,
    );
  };
  // An id resolves once its resource is created, so the value carries that resource as a dependency.
  const after = <T>(value: pulumi.Output<T>, first?: pulumi.CustomResource) => (first ? pulumi.all([value, first.id]).apply(([v]) => v) : value);
  const trainingAccess = grant("training", { experiment: config.training.experimentName });
  const { fanout, trials } = trainingProgram(ctx, { ...tracking, jobTrackingUri: after(tracking.jobTrackingUri, trainingAccess) });
  const credentials = ctx.secrets.authAdminPassword?.apply((password) => ({ username: config.tracking.auth.adminUser, password }));
  const champion = new ChampionAlias(`${stack}-champion`, { ...reach, experimentName: config.training.experimentName, studyId: fanout.studyId, metrics, credentials });
  const servingAccess = grant("serving", { registeredModel: metrics.registeredModel.name }, { dependsOn: [champion] });
  const modelUri = championModelUri(metrics.registeredModel.name, metrics.registeredModel.alias);
  const serving = servingProgram(ctx, { jobTrackingUri: tracking.jobTrackingUri, modelUri, modelVersion: after(champion.modelVersion, servingAccess) });
  return {
    trackingUri: tracking.driverTrackingUri,
    artifactLocation: tracking.artifactLocation,
    studyId: fanout.studyId,
    trials,
    championRunId: champion.runId,
    modelVersion: champion.modelVersion,
    endpoint: serving.endpoint,
  };
}

function run() {
  try {
    return program();
  } catch (err) {
    // User mistakes in config get their message, not a stack trace.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

export = run();
