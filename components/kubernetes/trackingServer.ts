import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { supportedStorage } from "../../config";
import type { TrackingServer, TrackingServerArgs } from "../interfaces";
import { builtImageRef, type ObjectStoreFlavor, objectStoreFlavor } from "../shared/images";
import type { ServerAddress } from "../shared/optunaStorage";
import { deriveFlaskSecretKey, renderAuthIni } from "../shared/mlflowAuth";
import { childName } from "../shared/naming";
import { checkedFor } from "../shared/resourceError";
import { InStackObjectStore } from "./inStackObjectStore";
import { InStackPostgres } from "./inStackPostgres";
import { childResourceName, type Labels, validateInstanceName } from "./meta";
import { type ArtifactStoreAccess, backendStoreUri, mlflowSelector, type PostgresConnection } from "./mlflowManifests";
import { MlflowServer } from "./mlflowServer";
import { buildTrackingSecret, renderSeaweedS3Config, secretDigestOf, trackingSecretData, trackingSecretKeys, type TrackingSecretParams } from "./trackingSecret";

export interface KubernetesTrackingServerArgs extends TrackingServerArgs {
  readonly namespace: pulumi.Input<string>;
  /** StorageClass of the PostgreSQL and object-store volumes; omit for the cluster default. */
  readonly storageClass?: string;
  /** MLflow image built from images/mlflow; default `<registry>/mlops-mlflow:<tag>`. */
  readonly image?: string;
  /** CSRF signing key of the basic-auth app (a Pulumi secret); default: derived from the admin password. */
  readonly flaskSecretKey?: pulumi.Input<string>;
  /**
   * Pods besides MLflow's that the in-stack PostgreSQL admits (its NetworkPolicy), by labels: the training
   * fan-out's prepare and worker pods, which share the study in its `optuna` database.
   */
  readonly databaseClients?: readonly Labels[];
}

type DatabasePlan =
  | { readonly kind: "inStack"; readonly image: string; readonly database: string; readonly user: string; readonly storageSize: string }
  | { readonly kind: "external"; readonly connection: PostgresConnection };

type ObjectStorePlan =
  | { readonly kind: "inStack"; readonly image: string; readonly flavor: ObjectStoreFlavor; readonly bucket: string; readonly storageSize: string }
  | { readonly kind: "s3"; readonly access: ArtifactStoreAccess };

export interface TrackingPlan {
  readonly database: DatabasePlan;
  readonly objectStore: ObjectStorePlan;
}

/** What to run, decided from the typed args alone; every unsupported combination fails here with what to change. */
export function planTracking(args: TrackingServerArgs): TrackingPlan {
  const { database: db, objectStore: store } = supportedStorage("kubernetes", args.database, args.objectStore);
  if (args.databasePassword === undefined)
    throw new Error("KubernetesTrackingServer: databasePassword is required for a PostgreSQL backend: pass the generated (inStack) or `mlops:databasePassword` (external) secret");
  if (store.kind === "inStack" && args.objectStoreCredentials === undefined) {
    throw new Error("KubernetesTrackingServer: objectStoreCredentials is required for the in-stack object store: pass a generated access key pair");
  }
  const database: DatabasePlan =
    db.kind === "inStack"
      ? { kind: "inStack", image: db.image, database: db.database, user: db.user, storageSize: db.storageSize }
      : { kind: "external", connection: { host: db.host, port: db.port, database: db.database, user: db.user, sslMode: db.sslMode } };
  const objectStore: ObjectStorePlan =
    store.kind === "inStack"
      ? { kind: "inStack", image: store.image, flavor: objectStoreFlavor(store.image), bucket: store.bucket, storageSize: store.storageSize }
      : {
          kind: "s3",
          access: {
            destination: s3Destination(store.bucket, store.prefix),
            endpointUrl: store.endpoint,
            region: store.region,
            hasCredentials: args.objectStoreCredentials !== undefined,
          },
        };
  return { database, objectStore };
}

export function s3Destination(bucket: string, prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed ? `s3://${bucket}/${trimmed}` : `s3://${bucket}`;
}

/**
 * MLflow on Kubernetes: PostgreSQL and an S3 server in the stack (or external ones), MLflow as a
 * Deployment behind a ClusterIP Service, and the one Secret they share. Users reach it with `kubectl
 * port-forward` (see `portForwardCommand`), so the tracking server is never exposed outside the cluster.
 */
export class KubernetesTrackingServer extends pulumi.ComponentResource implements TrackingServer {
  readonly driverTrackingUri: pulumi.Output<string>;
  readonly jobTrackingUri: pulumi.Output<string>;
  readonly artifactLocation: pulumi.Output<string>;
  /** The command that makes `driverTrackingUri` reachable from the user's machine. */
  readonly portForwardCommand: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;
  /** In-stack PostgreSQL only: its Service, where training pods reach the shared trial queue. */
  readonly jobDatabaseAddress?: pulumi.Output<ServerAddress>;

  constructor(name: string, args: KubernetesTrackingServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:TrackingServer", name, {}, opts);
    const { plan, digestKey } = checkedFor(this, () => {
      validateInstanceName("KubernetesTrackingServer", name);
      if (args.secretDigestKey === undefined) throw new Error("KubernetesTrackingServer: expected secretDigestKey (the tracking phase generates it: programs/secrets.ts)");
      return { plan: planTracking(args), digestKey: pulumi.secret(args.secretDigestKey) };
    });
    const namespace = pulumi.output(args.namespace);
    const image = args.image ?? builtImageRef(args.images, "mlflow");
    // The stores read the Secret, and the Secret's auth config names the database: its name comes last.
    const [secretName, setSecretName] = pulumi.deferredOutput<string>();
    const inStack = { instance: name, namespace, storageClass: args.storageClass, resources: args.resources, secretName, clients: [mlflowSelector(name)] };
    // Each store restarts when the values it reads change (a rotation): a digest on its pod template.
    const s3Keys = args.objectStoreCredentials === undefined ? undefined : pulumi.secret(args.objectStoreCredentials);
    const storeDigests = {
      database: secretDigestOf(digestKey, { [trackingSecretKeys.databasePassword]: args.databasePassword }),
      objectStore: secretDigestOf(digestKey, { [trackingSecretKeys.s3AccessKeyId]: s3Keys?.accessKeyId, [trackingSecretKeys.s3SecretAccessKey]: s3Keys?.secretAccessKey }),
    };

    const db = plan.database;
    const database: { readonly connection: pulumi.Output<PostgresConnection> } =
      db.kind === "inStack"
        ? new InStackPostgres(
            childName(name, "postgres"),
            { ...inStack, ...db, secretDigest: storeDigests.database, clients: [...inStack.clients, ...(args.databaseClients ?? [])] },
            { parent: this },
          )
        : { connection: pulumi.output(db.connection) };
    const store = plan.objectStore;
    const objectStore: { readonly access: pulumi.Output<ArtifactStoreAccess> } =
      store.kind === "inStack"
        ? new InStackObjectStore(childName(name, "object-store"), { ...inStack, ...store, secretDigest: storeDigests.objectStore, bucketJobImage: image }, { parent: this })
        : { access: pulumi.output(store.access) };

    const auth = args.auth;
    const secretParams: TrackingSecretParams = {
      instance: name,
      namespace,
      databasePassword: args.databasePassword,
      objectStoreCredentials: args.objectStoreCredentials,
      // MLflow keeps its users in the tracking PostgreSQL, so every replica sees the same ones.
      authConfig: auth
        ? pulumi
            .all([database.connection, auth.adminPassword])
            .apply(([c, adminPassword]) => renderAuthIni({ databaseUri: backendStoreUri(c), adminUser: auth.adminUser, adminPassword }))
        : undefined,
      flaskSecretKey: auth ? (args.flaskSecretKey ?? pulumi.output(auth.adminPassword).apply(deriveFlaskSecretKey)) : undefined,
      seaweedS3Config:
        store.kind === "inStack" && store.flavor === "seaweedfs" && args.objectStoreCredentials
          ? pulumi.output(args.objectStoreCredentials).apply(renderSeaweedS3Config)
          : undefined,
    };
    const secretData = trackingSecretData(secretParams);
    const secret = new k8s.core.v1.Secret(childResourceName(name, "credentials"), buildTrackingSecret(secretParams, secretData), { parent: this });
    setSecretName(secret.metadata.name);

    const mlflow = new MlflowServer(
      childName(name, "mlflow"),
      {
        instance: name,
        namespace,
        image,
        port: args.port,
        resources: args.resources,
        database: database.connection,
        artifacts: objectStore.access,
        secretName,
        // MLflow reads every value of the Secret.
        secretDigest: secretDigestOf(digestKey, secretData),
        basicAuth: auth !== undefined,
      },
      { parent: this, dependsOn: [database, objectStore].filter((s) => s instanceof pulumi.ComponentResource) },
    );

    this.serviceName = mlflow.serviceName;
    this.jobTrackingUri = mlflow.trackingUri;
    this.driverTrackingUri = mlflow.trackingUri.apply(() => `http://127.0.0.1:${args.port}`);
    this.portForwardCommand = pulumi.interpolate`kubectl -n ${namespace} port-forward svc/${mlflow.serviceName} ${args.port}:${args.port}`;
    this.artifactLocation = objectStore.access.apply((a) => a.destination);
    if (db.kind === "inStack") this.jobDatabaseAddress = database.connection.apply((c) => ({ host: c.host, port: c.port }));
    this.registerOutputs({
      ...(this.jobDatabaseAddress ? { jobDatabaseAddress: this.jobDatabaseAddress } : {}),
      driverTrackingUri: this.driverTrackingUri,
      jobTrackingUri: this.jobTrackingUri,
      artifactLocation: this.artifactLocation,
      portForwardCommand: this.portForwardCommand,
      serviceName: this.serviceName,
    });
  }
}
