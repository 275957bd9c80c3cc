import type * as k8s from "@pulumi/kubernetes";
import type { Resources } from "../../config";
import { postgresReadyCommand } from "../shared/postgresRole";
import { containerSecurityContext, resourceRequirements, roles, secretEnv, podSelector, objectLabels } from "./meta";
import { buildSingleReplicaStore } from "./statefulSet";
import { trackingSecretKeys } from "./trackingSecret";
import { buildWorkloadService } from "./service";

export const postgresPort = 5432;
/** UID of the `postgres` user in the official image: its entrypoint initialises the data directory as that user. */
const postgresUserId = 999;
const dataMount = "/var/lib/postgresql/data";

export interface PostgresParams {
  readonly instance: string;
  readonly namespace: string;
  readonly image: string;
  readonly database: string;
  readonly user: string;
  readonly storageSize: string;
  readonly storageClass?: string;
  readonly resources: Resources;
  /** The headless Service that gives the pod its stable DNS name. */
  readonly serviceName: string;
  readonly secretName: string;
  /** Digest of the database password (trackingSecret.ts `secretDigest`): a rotation restarts the pod. */
  readonly secretDigest: string;
}

export const postgresSelector = (instance: string) => podSelector(instance, "postgresql", roles.database);

export function buildPostgresService(p: Pick<PostgresParams, "instance" | "namespace">): k8s.types.input.core.v1.Service {
  const labels = objectLabels(p.instance, "postgresql", roles.database);
  return buildWorkloadService({ namespace: p.namespace, labels, selector: postgresSelector(p.instance), portName: "postgres", port: postgresPort, headless: true });
}

export function buildPostgresStatefulSet(p: PostgresParams): k8s.types.input.apps.v1.StatefulSet {
  const alive = ["pg_isready", "-h", "127.0.0.1", "-p", String(postgresPort), "-U", p.user, "-d", p.database];
  // Ready only once the role takes the Secret's current password (a restarted pod after a rotation): MLflow waits for it.
  const ready = ["sh", "-c", postgresReadyCommand({ user: p.user, database: p.database })];
  return buildSingleReplicaStore({
    namespace: p.namespace,
    labels: objectLabels(p.instance, "postgresql", roles.database),
    selector: postgresSelector(p.instance),
    serviceName: p.serviceName,
    userId: postgresUserId,
    storageSize: p.storageSize,
    storageClass: p.storageClass,
    secretDigest: p.secretDigest,
    container: {
      name: "postgres",
      image: p.image,
      ports: [{ name: "postgres", containerPort: postgresPort }],
      env: [
        { name: "POSTGRES_DB", value: p.database },
        { name: "POSTGRES_USER", value: p.user },
        secretEnv("POSTGRES_PASSWORD", p.secretName, trackingSecretKeys.databasePassword),
        // A sub-directory, because the volume root holds lost+found and initdb wants an empty directory.
        { name: "PGDATA", value: `${dataMount}/pgdata` },
      ],
      volumeMounts: [{ name: "data", mountPath: dataMount }],
      resources: resourceRequirements(p.resources),
      securityContext: containerSecurityContext(),
      readinessProbe: { exec: { command: ready }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
      livenessProbe: { exec: { command: alive }, initialDelaySeconds: 30, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 5 },
    },
  });
}
