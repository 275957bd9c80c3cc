import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type DatabaseConfig, type ObjectStoreConfig, supportedStorage } from "../../config";
import type { TrackingServer, TrackingServerArgs } from "../interfaces";
import { authModuleDir, deriveFlaskSecretKey, renderAuthIni, sqliteAuthDatabaseUri } from "../shared/mlflowAuth";
import { resolveSecretEnv, s3ClientEnv } from "../shared/mlflowClientEnv";
import { checkedFor } from "../shared/resourceError";
import { LocalProcess } from "./localProcess";
import { type LocalPaths, resolveIn } from "./paths";
import type { FileSpec } from "./supervisor";

export interface LocalTrackingServerArgs extends TrackingServerArgs {
  readonly paths: LocalPaths;
}

interface ServerPlan {
  readonly command: string[];
  readonly env: Record<string, string>;
  /** Secret env vars and the secret each takes (the S3 key pair); values are filled in at deployment. */
  readonly secretEnv: Readonly<Record<string, "objectStoreAccessKeyId" | "objectStoreSecretAccessKey">>;
  readonly artifactLocation: string;
  readonly directories: string[];
}

/** The command and environment of the MLflow server; pure, so tests check it without Pulumi. */
export function planTrackingServer(
  args: Pick<LocalTrackingServerArgs, "port" | "database" | "objectStore" | "paths"> & { readonly auth: boolean; readonly hasObjectStoreCredentials?: boolean },
): ServerPlan {
  const { paths } = args;
  const artifactLocation = artifactDestination(args.objectStore, paths.workDir);
  const directories = [paths.runDir];
  if (args.objectStore.kind === "localFolder") directories.push(resolveIn(paths.workDir, args.objectStore.path));
  if (args.database.kind === "sqlite") directories.push(path.dirname(resolveIn(paths.workDir, args.database.path)));
  const command = [paths.mlflow, "server", "--host", "127.0.0.1", "--port", String(args.port), "--workers", "1", "--serve-artifacts", "--artifacts-destination", artifactLocation];
  if (args.database.kind === "sqlite") command.push("--backend-store-uri", `sqlite:///${resolveIn(paths.workDir, args.database.path)}`);
  if (args.auth) command.push("--app-name", "basic-auth");
  // Clients reach the server as 127.0.0.1, which MLflow's Host-header check allows by default.
  const store = args.objectStore;
  const s3 =
    store.kind === "s3" ? s3ClientEnv({ endpointUrl: store.endpoint, region: store.region, hasCredentials: args.hasObjectStoreCredentials ?? false }) : { env: {}, secretEnv: {} };
  return { command, env: { PYTHONUNBUFFERED: "1", ...s3.env }, secretEnv: s3.secretEnv, artifactLocation, directories };
}

function artifactDestination(store: ObjectStoreConfig, workDir: string): string {
  switch (store.kind) {
    case "localFolder":
      return `file://${resolveIn(workDir, store.path)}`;
    case "s3":
      return `s3://${store.bucket}/${store.prefix}`;
    case "inStack":
      throw new Error("tracking.objectStore.kind inStack is not available on platform local: use localFolder or s3");
  }
}

/** `postgresql://` URI with the password; only ever placed in secret env. */
export function postgresUri(db: Extract<DatabaseConfig, { kind: "external" }>, password: string): string {
  const user = encodeURIComponent(db.user);
  return `postgresql://${user}:${encodeURIComponent(password)}@${db.host}:${db.port}/${encodeURIComponent(db.database)}?sslmode=${db.sslMode}`;
}

/** MLflow's basic-auth config: its users database is a SQLite file in the run folder, one per admin password. */
export function basicAuthIni(paths: LocalPaths, adminUser: string, adminPassword: string): string {
  return renderAuthIni({ databaseUri: sqliteAuthDatabaseUri(paths.runDir, adminPassword), adminUser, adminPassword });
}

/** MLflow as a supervised process on this machine: SQLite or PostgreSQL runs, local-folder or S3 artifacts. */
export class LocalTrackingServer extends pulumi.ComponentResource implements TrackingServer {
  readonly driverTrackingUri: pulumi.Output<string>;
  readonly jobTrackingUri: pulumi.Output<string>;
  readonly artifactLocation: pulumi.Output<string>;

  constructor(name: string, args: LocalTrackingServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:local:TrackingServer", name, {}, opts);
    const { database: db } = checkedFor(this, () => {
      const storage = supportedStorage("local", args.database, args.objectStore);
      if (storage.database.kind === "external" && !args.databasePassword) {
        throw new Error(`tracking.database is external: set the password with \`pulumi config set --secret mlops:${storage.database.passwordSecret}\``);
      }
      return storage;
    });

    const plan = planTrackingServer({ ...args, auth: args.auth !== undefined, hasObjectStoreCredentials: args.objectStoreCredentials !== undefined });
    const secretEnv = pulumi.all([args.databasePassword ?? "", args.objectStoreCredentials, args.auth?.adminPassword ?? ""]).apply(([password, keys, adminPassword]) => ({
      // basic-auth signs its CSRF tokens with this key and refuses to start without one.
      ...(adminPassword ? { MLFLOW_FLASK_SERVER_SECRET_KEY: deriveFlaskSecretKey(adminPassword) } : {}),
      ...(db.kind === "external" ? { MLFLOW_BACKEND_STORE_URI: postgresUri(db, password) } : {}),
      ...resolveSecretEnv(plan, { objectStoreAccessKeyId: keys?.accessKeyId, objectStoreSecretAccessKey: keys?.secretAccessKey }),
    }));
    const authIniPath = `${args.paths.runDir}/basic_auth.ini`;
    const files: pulumi.Input<FileSpec[]> = args.auth
      ? pulumi.output(args.auth.adminPassword).apply((pw) => [{ path: authIniPath, content: basicAuthIni(args.paths, args.auth?.adminUser ?? "admin", pw), mode: 0o600 }])
      : [];
    // The ini names the cached auth check in images/mlflow, which the venv's mlflow imports from PYTHONPATH.
    const env = args.auth ? { ...plan.env, MLFLOW_AUTH_CONFIG_PATH: authIniPath, PYTHONPATH: path.join(args.paths.workDir, authModuleDir) } : plan.env;

    const server = new LocalProcess(
      `${name}-mlflow`,
      {
        command: plan.command,
        cwd: args.paths.workDir,
        env,
        secretEnv: pulumi.secret(secretEnv),
        files: pulumi.secret(files),
        directories: plan.directories,
        logFile: `${args.paths.logDir}/mlflow.log`,
        pidFile: `${args.paths.runDir}/mlflow.pid`,
        healthUrl: `http://127.0.0.1:${args.port}/health`,
        startTimeoutSeconds: 180,
        restartTrigger: args.mlflowVersion,
      },
      { parent: this },
    );
    const uri = server.pid.apply(() => `http://127.0.0.1:${args.port}`);
    this.driverTrackingUri = uri;
    this.jobTrackingUri = uri;
    this.artifactLocation = pulumi.output(plan.artifactLocation);
    this.registerOutputs({ driverTrackingUri: uri, jobTrackingUri: uri, artifactLocation: this.artifactLocation });
  }
}
