import type * as pulumi from "@pulumi/pulumi";
import type { DatabaseConfig, ImagesConfig, ObjectStoreConfig, Resources, ServingConfig, TrainingConfig } from "../config";
import type { QueueDatabase, ServerAddress } from "./shared/optunaStorage";
import type { ShardSpec } from "./shared/studySpec";

/**
 * One interface per concern. Each platform (components/local, components/docker,
 * components/kubernetes) implements the three with its own extra args; programs pick the
 * implementation by `platform` and only rely on what is declared here.
 */

// ---------- tracking ----------

export interface TrackingServerArgs {
  readonly mlflowVersion: string;
  readonly port: number;
  readonly database: DatabaseConfig;
  readonly objectStore: ObjectStoreConfig;
  readonly resources: Resources;
  readonly images: ImagesConfig;
  /** Password of the MLflow database role (in-stack or external); a Pulumi secret. Unused for sqlite. */
  readonly databasePassword?: pulumi.Input<string>;
  /** Access key pair of the object store (in-stack or S3); Pulumi secrets. Unused for localFolder. */
  readonly objectStoreCredentials?: pulumi.Input<{ accessKeyId: string; secretAccessKey: string }>;
  /** MLflow basic-auth admin; when set, the server runs with `--app-name basic-auth`. */
  readonly auth?: { readonly adminUser: string; readonly adminPassword: pulumi.Input<string> };
  /** The key of the Secret digests a platform stamps on its workloads (kubernetes); a Pulumi secret. */
  readonly secretDigestKey?: pulumi.Input<string>;
}

export interface TrackingServer extends pulumi.ComponentResource {
  /** Tracking URI reachable from the machine that runs the driver. */
  readonly driverTrackingUri: pulumi.Output<string>;
  /** Tracking URI reachable from training jobs and model servers. */
  readonly jobTrackingUri: pulumi.Output<string>;
  /** Where MLflow stores artifacts (s3://..., file://...). */
  readonly artifactLocation: pulumi.Output<string>;
  /**
   * The command that must run for `driverTrackingUri` to answer (e.g. `kubectl port-forward` on a
   * cluster, where MLflow is not exposed); absent when the URI answers as it is.
   */
  readonly portForwardCommand?: pulumi.Output<string>;
  /**
   * Where training jobs reach the stack's own PostgreSQL (the shared trial queue's database), when the
   * platform has no fixed name for it (kubernetes: the Service); absent otherwise.
   */
  readonly jobDatabaseAddress?: pulumi.Output<ServerAddress>;
}

// ---------- training fan-out ----------

export interface TrainingFanoutArgs {
  /** One spec per worker, from `buildShardSpecs` in components/shared. */
  readonly shards: readonly ShardSpec[];
  readonly training: Pick<TrainingConfig, "workers" | "retries" | "resources">;
  readonly trackingUri: pulumi.Input<string>;
  /** Trainer image (docker, kubernetes); ignored by local. */
  readonly image?: pulumi.Input<string>;
  /** Basic-auth credentials the workers log in with (MLFLOW_TRACKING_USERNAME/PASSWORD). */
  readonly trackingCredentials?: { readonly username: string; readonly password: pulumi.Input<string> };
  /**
   * Changes when the previous training update failed (the driver passes the failed update's start time).
   * Docker jobs run once per container, so a new value recreates them and a rerun trains what is left
   * (the trainer skips finished trials by key); other platforms rerun without it.
   */
  readonly rerunKey?: string;
  /** Shards planned with queue "rdb" (docker, kubernetes): the stack's PostgreSQL that holds the shared study. */
  readonly queueDatabase?: QueueDatabase;
}

export interface TrainingFanout extends pulumi.ComponentResource {
  readonly studyId: pulumi.Output<string>;
  /** Number of worker units that ran (processes, containers or Job completions). */
  readonly workerCount: pulumi.Output<number>;
}

// ---------- serving ----------

export interface ModelServingArgs {
  /** `models:/<name>@<alias>`: servers resolve it at start, so a new champion needs no rebuild. */
  readonly modelUri: pulumi.Input<string>;
  readonly serving: ServingConfig;
  readonly trackingUri: pulumi.Input<string>;
  readonly image?: pulumi.Input<string>;
  readonly images: ImagesConfig;
  readonly trackingCredentials?: { readonly username: string; readonly password: pulumi.Input<string> };
  /** Changes when the champion changes, so replicas restart and load it. */
  readonly modelVersion?: pulumi.Input<string>;
  /** The inference API key (a secret); unset: the API is open. */
  readonly apiKey?: pulumi.Input<string>;
  /** Worker processes per replica (config's servingWorkers). */
  readonly workers?: number;
}

export interface ModelServing extends pulumi.ComponentResource {
  /** Base URL of the load-balanced inference API (POST <endpoint>/invocations). */
  readonly endpoint: pulumi.Output<string>;
}
