import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { TrackingServer, TrackingServerArgs } from "../interfaces";
import { imageRef, type ObjectStoreFlavor, objectStoreFlavor } from "../shared/images";
import { buildWith, fromManifest } from "./manifestArgs";
import { childResourceName, objectLabels, roles, serviceHost, validateInstanceName } from "./meta";
import { type ArtifactStoreAccess, backendStoreUri, buildMlflowDeployment, buildMlflowService, mlflowSelector, type PostgresConnection } from "./mlflowManifests";
import { buildIngressPolicy } from "./networkPolicy";
import {
  bucketInitSelector,
  buildBucketJob,
  buildObjectStoreService,
  buildObjectStoreStatefulSet,
  objectStoreSelector,
  s3Port,
} from "./objectStoreManifests";
import { buildPostgresService, buildPostgresStatefulSet, postgresPort, postgresSelector } from "./postgresManifests";
import { buildTrackingSecret, deriveFlaskSecretKey, renderAuthConfig, renderSeaweedS3Config } from "./trackingSecret";

export interface KubernetesTrackingServerArgs extends TrackingServerArgs {
  readonly namespace: pulumi.Input<string>;
  /** StorageClass of the PostgreSQL and object-store volumes; omit for the cluster default. */
  readonly storageClass?: string;
  /** MLflow image built from images/mlflow; default `<registry>/mlops-mlflow:<tag>`. */
  readonly image?: string;
  /** CSRF signing key of the basic-auth app (a Pulumi secret); default: derived from the admin password. */
  readonly flaskSecretKey?: pulumi.Input<string>;
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
  const { database: db, objectStore: store } = args;
  if (db.kind === "sqlite") throw new Error("KubernetesTrackingServer: tracking.database.kind 'sqlite' is not supported on kubernetes: use inStack or external");
  if (store.kind === "localFolder") throw new Error("KubernetesTrackingServer: tracking.objectStore.kind 'localFolder' is not supported on kubernetes: use inStack or s3");
  if (args.databasePassword === undefined) throw new Error("KubernetesTrackingServer: databasePassword is required for a PostgreSQL backend: pass the generated (inStack) or `mlops:databasePassword` (external) secret");
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
          access: { destination: s3Destination(store.bucket, store.prefix), endpointUrl: store.endpoint, region: store.region, hasCredentials: args.objectStoreCredentials !== undefined },
        };
  return { database, objectStore };
}

export function s3Destination(bucket: string, prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  return trimmed ? `s3://${bucket}/${trimmed}` : `s3://${bucket}`;
}

/**
 * MLflow on Kubernetes: PostgreSQL and an S3 server as StatefulSets (or external ones), MLflow as a
 * Deployment behind a ClusterIP Service. Users reach it with `kubectl port-forward` (see
 * `portForwardCommand`), so the tracking server is never exposed outside the cluster by default.
 */
export class KubernetesTrackingServer extends pulumi.ComponentResource implements TrackingServer {
  readonly driverTrackingUri: pulumi.Output<string>;
  readonly jobTrackingUri: pulumi.Output<string>;
  readonly artifactLocation: pulumi.Output<string>;
  /** The command that makes `driverTrackingUri` reachable from the user's machine. */
  readonly portForwardCommand: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;

  constructor(name: string, args: KubernetesTrackingServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:TrackingServer", name, {}, opts);
    validateInstanceName("KubernetesTrackingServer", name);
    const plan = planTracking(args);
    const child = { parent: this };
    const namespace = pulumi.output(args.namespace);
    const image = args.image ?? imageRef(args.images, "mlops-mlflow");
    const storageClass = args.storageClass;

    const dependencies: pulumi.Resource[] = [];
    let connection: pulumi.Output<PostgresConnection>;
    const postgresService = plan.database.kind === "inStack" ? new k8s.core.v1.Service(childResourceName(name, "postgres"), fromManifest(namespace.apply((ns) => buildPostgresService({ instance: name, namespace: ns }))), child) : undefined;
    if (plan.database.kind === "inStack" && postgresService) {
      const db = plan.database;
      connection = buildWith({ ns: namespace, svc: postgresService.metadata.name }, (r) => ({ host: serviceHost(r.svc, r.ns), port: postgresPort, database: db.database, user: db.user, sslMode: "disable" as const }));
    } else if (plan.database.kind === "external") {
      connection = pulumi.output(plan.database.connection);
    } else {
      throw new Error("unreachable: in-stack database without its Service");
    }

    const storeService = plan.objectStore.kind === "inStack" ? new k8s.core.v1.Service(childResourceName(name, "object-store"), fromManifest(namespace.apply((ns) => buildObjectStoreService({ instance: name, namespace: ns }))), child) : undefined;
    const storePlan = plan.objectStore;
    const artifacts: pulumi.Output<ArtifactStoreAccess> =
      storePlan.kind === "inStack" && storeService
        ? buildWith({ ns: namespace, svc: storeService.metadata.name }, (r) => ({ destination: `s3://${storePlan.bucket}/mlflow`, endpointUrl: `http://${serviceHost(r.svc, r.ns)}:${s3Port}`, region: "us-east-1", hasCredentials: true }))
        : pulumi.output(storePlan.kind === "s3" ? storePlan.access : { destination: "", hasCredentials: false });

    const auth = args.auth;
    const secret = new k8s.core.v1.Secret(
      childResourceName(name, "credentials"),
      buildTrackingSecret({
        instance: name,
        namespace,
        databasePassword: args.databasePassword,
        objectStoreCredentials: args.objectStoreCredentials,
        authConfig: auth ? pulumi.all([connection, auth.adminPassword]).apply(([c, adminPassword]) => renderAuthConfig({ databaseUri: backendStoreUri(c), adminUser: auth.adminUser, adminPassword })) : undefined,
        flaskSecretKey: auth ? (args.flaskSecretKey ?? pulumi.output(auth.adminPassword).apply(deriveFlaskSecretKey)) : undefined,
        seaweedS3Config: storePlan.kind === "inStack" && storePlan.flavor === "seaweedfs" && args.objectStoreCredentials ? pulumi.output(args.objectStoreCredentials).apply(renderSeaweedS3Config) : undefined,
      }),
      child,
    );
    const secretName = secret.metadata.name;

    if (plan.database.kind === "inStack" && postgresService) {
      const db = plan.database;
      const statefulSet = new k8s.apps.v1.StatefulSet(
        childResourceName(name, "postgres"),
        fromManifest(
          buildWith({ ns: namespace, svc: postgresService.metadata.name, secret: secretName }, (r) =>
            buildPostgresStatefulSet({ instance: name, namespace: r.ns, image: db.image, database: db.database, user: db.user, storageSize: db.storageSize, storageClass, resources: args.resources, serviceName: r.svc, secretName: r.secret }),
          ),
        ),
        child,
      );
      new k8s.networking.v1.NetworkPolicy(
        childResourceName(name, "postgres"),
        fromManifest(namespace.apply((ns) => buildIngressPolicy({ namespace: ns, labels: objectLabels(name, "postgresql", roles.database), podSelector: postgresSelector(name), allowPods: [mlflowSelector(name)], ports: [postgresPort] }))),
        child,
      );
      dependencies.push(statefulSet);
    }

    if (storePlan.kind === "inStack" && storeService) {
      const statefulSet = new k8s.apps.v1.StatefulSet(
        childResourceName(name, "object-store"),
        fromManifest(
          buildWith({ ns: namespace, svc: storeService.metadata.name, secret: secretName }, (r) =>
            buildObjectStoreStatefulSet({ instance: name, namespace: r.ns, image: storePlan.image, storageSize: storePlan.storageSize, storageClass, resources: args.resources, serviceName: r.svc, secretName: r.secret }),
          ),
        ),
        child,
      );
      new k8s.networking.v1.NetworkPolicy(
        childResourceName(name, "object-store"),
        fromManifest(
          namespace.apply((ns) =>
            buildIngressPolicy({ namespace: ns, labels: objectLabels(name, "object-store", roles.objectStore), podSelector: objectStoreSelector(name), allowPods: [mlflowSelector(name), bucketInitSelector(name)], ports: [s3Port] }),
          ),
        ),
        child,
      );
      const bucketJob = new k8s.batch.v1.Job(
        childResourceName(name, "create-bucket"),
        fromManifest(
          buildWith({ ns: namespace, secret: secretName, endpoint: artifacts.apply((a) => a.endpointUrl ?? "") }, (r) =>
            buildBucketJob({ instance: name, namespace: r.ns, image, bucket: storePlan.bucket, endpointUrl: r.endpoint, secretName: r.secret }),
          ),
        ),
        { ...child, dependsOn: [statefulSet] },
      );
      dependencies.push(statefulSet, bucketJob);
    }

    const service = new k8s.core.v1.Service(childResourceName(name, "mlflow"), fromManifest(namespace.apply((ns) => buildMlflowService({ instance: name, namespace: ns, port: args.port }))), child);
    const deployment = new k8s.apps.v1.Deployment(
      childResourceName(name, "mlflow"),
      fromManifest(
        pulumi.all([namespace, service.metadata.name, secretName, connection, artifacts]).apply(([ns, svc, secretRef, database, artifactAccess]) =>
          buildMlflowDeployment({ instance: name, namespace: ns, image, port: args.port, resources: args.resources, database, artifacts: artifactAccess, secretName: secretRef, serviceName: svc, basicAuth: auth !== undefined }),
        ),
      ),
      { ...child, dependsOn: dependencies },
    );

    this.serviceName = service.metadata.name;
    // Depending on the Deployment (and, through it, the bucket) means consumers start only once MLflow answers.
    this.jobTrackingUri = pulumi.all([namespace, service.metadata.name, deployment.id]).apply(([ns, svc]) => `http://${serviceHost(svc, ns)}:${args.port}`);
    this.driverTrackingUri = deployment.id.apply(() => `http://127.0.0.1:${args.port}`);
    this.portForwardCommand = pulumi.interpolate`kubectl -n ${namespace} port-forward svc/${service.metadata.name} ${args.port}:${args.port}`;
    this.artifactLocation = artifacts.apply((a) => a.destination);
    this.registerOutputs({
      driverTrackingUri: this.driverTrackingUri,
      jobTrackingUri: this.jobTrackingUri,
      artifactLocation: this.artifactLocation,
      portForwardCommand: this.portForwardCommand,
      serviceName: this.serviceName,
    });
  }
}
