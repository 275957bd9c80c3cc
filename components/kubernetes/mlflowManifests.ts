import type * as k8s from "@pulumi/kubernetes";
import type { Resources } from "../../config";
import { type S3Access, s3ClientEnv } from "../shared/mlflowClientEnv";
import {
  appUserId,
  containerSecurityContext,
  objectLabels,
  planEnv,
  podSecurityContext,
  podSelector,
  resourceRequirements,
  roles,
  secretDigestAnnotation,
  secretEnv,
} from "./meta";
import { trackingSecretKeyOf, trackingSecretKeys } from "./trackingSecret";

export interface PostgresConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly sslMode: "disable" | "prefer" | "require" | "verify-full";
}

export interface ArtifactStoreAccess extends S3Access {
  /** `s3://bucket/prefix` */
  readonly destination: string;
}

export interface MlflowParams {
  readonly instance: string;
  readonly namespace: string;
  readonly image: string;
  readonly port: number;
  readonly resources: Resources;
  readonly database: PostgresConnection;
  readonly artifacts: ArtifactStoreAccess;
  readonly secretName: string;
  /** Digest of the Secret's values (trackingSecret.ts `secretDigest`): a rotation rolls the pods. */
  readonly secretDigest: string;
  /** Service name, so MLflow's DNS-rebinding guard accepts requests addressed to it. */
  readonly serviceName: string;
  /** Run the basic-auth app; its config (with the admin password) is mounted from the Secret. */
  readonly basicAuth: boolean;
}

export const mlflowSelector = (instance: string) => podSelector(instance, "mlflow", roles.trackingServer);
const authConfigDir = "/etc/mlflow-auth";
const authConfigPath = `${authConfigDir}/${trackingSecretKeys.authConfig}`;
/**
 * images/mlflow/sync_auth_admin.py, which the image's entrypoint runs on docker: MLflow writes the admin's
 * password into its users table only when it creates the admin, so after a rotation the table would keep
 * the old one. Run before the server, it sets the admin's password from the mounted config.
 */
export const syncAuthAdminCommand = ["python", "/app/sync_auth_admin.py", authConfigPath] as const;

/** The password is never in the URI: libpq reads PGPASSWORD, so nothing secret shows in args or logs. */
export function backendStoreUri(db: PostgresConnection): string {
  return `postgresql://${encodeURIComponent(db.user)}@${db.host}:${db.port}/${encodeURIComponent(db.database)}`;
}

/** Host headers MLflow accepts (it refuses unknown hosts by default): the Service's names and port-forwards. */
export function allowedHosts(serviceName: string, namespace: string): string[] {
  const names = ["localhost", "127.0.0.1", serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`];
  return names.flatMap((host) => [host, `${host}:*`]);
}

const waitForDatabaseScript = `
import sys, time
import psycopg2

started = time.monotonic()
while True:
    try:
        psycopg2.connect(connect_timeout=5).close()
        print("database reachable", flush=True)
        break
    except psycopg2.OperationalError as err:
        waited = time.monotonic() - started
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if waited > 300:
            sys.exit(f"database not reachable after {waited:.0f} s: {reason}")
        print(f"waiting for the database ({waited:.0f} s): {reason}", flush=True)
        time.sleep(5)
`.trim();

/**
 * `mlflow db upgrade` migrates an existing schema but fails on an empty database (its first migration
 * alters tables only the server creates), so a fresh database is left to the server's own initialisation.
 */
export const migrateDatabaseScript = `
import subprocess, sys
import psycopg2

uri = sys.argv[1]
with psycopg2.connect(connect_timeout=10) as conn, conn.cursor() as cur:
    cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
    has_schema = cur.fetchone()[0]
if not has_schema:
    print("fresh database: MLflow creates its schema when the server starts", flush=True)
    sys.exit(0)
print("upgrading the MLflow schema (mlflow db upgrade)", flush=True)
sys.exit(subprocess.call(["mlflow", "db", "upgrade", uri]))
`.trim();
import { buildWorkloadService } from "./service";

function databaseEnv(p: MlflowParams): k8s.types.input.core.v1.EnvVar[] {
  return [
    { name: "PGHOST", value: p.database.host },
    { name: "PGPORT", value: String(p.database.port) },
    { name: "PGDATABASE", value: p.database.database },
    { name: "PGUSER", value: p.database.user },
    { name: "PGSSLMODE", value: p.database.sslMode },
    secretEnv("PGPASSWORD", p.secretName, trackingSecretKeys.databasePassword),
  ];
}

function artifactEnv(a: ArtifactStoreAccess, secretName: string): k8s.types.input.core.v1.EnvVar[] {
  return planEnv(s3ClientEnv(a), secretName, trackingSecretKeyOf);
}

export function mlflowServerArgs(p: MlflowParams): string[] {
  return [
    "server",
    "--host=0.0.0.0",
    `--port=${p.port}`,
    `--backend-store-uri=${backendStoreUri(p.database)}`,
    `--artifacts-destination=${p.artifacts.destination}`,
    "--serve-artifacts",
    "--workers=2",
    `--allowed-hosts=${allowedHosts(p.serviceName, p.namespace).join(",")}`,
    ...(p.basicAuth ? ["--app-name=basic-auth"] : []),
  ];
}

const authConfigMount = { name: "auth-config", mountPath: authConfigDir, readOnly: true };

export function buildMlflowDeployment(p: MlflowParams): k8s.types.input.apps.v1.Deployment {
  const labels = objectLabels(p.instance, "mlflow", roles.trackingServer);
  const common = { image: p.image, resources: resourceRequirements(p.resources), securityContext: containerSecurityContext() };
  const env = [...databaseEnv(p), ...artifactEnv(p.artifacts, p.secretName), { name: "PYTHONUNBUFFERED", value: "1" }];
  const probe = { httpGet: { path: "/health", port: "http" }, initialDelaySeconds: 10, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 5 };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { namespace: p.namespace, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: mlflowSelector(p.instance) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: { [secretDigestAnnotation]: p.secretDigest } },
        spec: {
          securityContext: podSecurityContext(appUserId),
          initContainers: [
            { ...common, name: "wait-for-database", command: ["python", "-c", waitForDatabaseScript], env: databaseEnv(p) },
            // Idempotent; running it before the server keeps schema upgrades out of the request path.
            { ...common, name: "migrate-database", command: ["python", "-c", migrateDatabaseScript, backendStoreUri(p.database)], env: databaseEnv(p) },
            ...(p.basicAuth ? [{ ...common, name: "sync-auth-admin", command: [...syncAuthAdminCommand], env: databaseEnv(p), volumeMounts: [authConfigMount] }] : []),
          ],
          containers: [
            {
              ...common,
              name: "mlflow",
              command: ["mlflow"],
              args: mlflowServerArgs(p),
              ports: [{ name: "http", containerPort: p.port }],
              env: p.basicAuth
                ? [...env, { name: "MLFLOW_AUTH_CONFIG_PATH", value: authConfigPath }, secretEnv("MLFLOW_FLASK_SERVER_SECRET_KEY", p.secretName, trackingSecretKeys.flaskSecretKey)]
                : env,
              ...(p.basicAuth ? { volumeMounts: [authConfigMount] } : {}),
              readinessProbe: probe,
              livenessProbe: probe,
            },
          ],
          ...(p.basicAuth
            ? {
                volumes: [
                  {
                    name: "auth-config",
                    secret: { secretName: p.secretName, defaultMode: 0o440, items: [{ key: trackingSecretKeys.authConfig, path: trackingSecretKeys.authConfig }] },
                  },
                ],
              }
            : {}),
        },
      },
    },
  };
}

export function buildMlflowService(p: Pick<MlflowParams, "instance" | "namespace" | "port">): k8s.types.input.core.v1.Service {
  const labels = objectLabels(p.instance, "mlflow", roles.trackingServer);
  return buildWorkloadService({ namespace: p.namespace, labels, selector: mlflowSelector(p.instance), portName: "http", port: p.port });
}
