import * as pulumi from "@pulumi/pulumi";
import { supportedStorage } from "../../config";
import type { TrackingServer, TrackingServerArgs } from "../interfaces";
import { builtImageRef } from "../shared/images";
import { checkedFor } from "../shared/resourceError";
import { networkSpec, type SecretValues, validatePrefix } from "./specBasics";
import { trackingTopology, withAuthSecrets } from "./trackingSpecs";
import { deployContainers, deployNetwork, deployVolume, ImageSet } from "./pulumiContainer";

export interface DockerPlatformArgs {
  /** The user-defined network every container of the stack joins (created by the tracking server). */
  readonly networkName: string;
  /** Host address published ports bind to; loopback by default so nothing is exposed beyond the host. */
  readonly publishHostIp?: string;
}

export interface DockerTrackingServerArgs extends TrackingServerArgs, DockerPlatformArgs {
  /** MLflow image (built by scripts/docker/build-images.sh); defaults to `<registry>/mlops-mlflow:<tag>`. */
  readonly mlflowImage?: string;
  /** Host port the driver reaches MLflow on; defaults to `port`. */
  readonly publishedPort?: number;
}

/** Checks what the docker platform cannot run, with what to change; returns the narrowed storage choices. */
export function validateDockerTracking(args: TrackingServerArgs) {
  const { database, objectStore } = supportedStorage("docker", args.database, args.objectStore);
  if (args.databasePassword === undefined) {
    const key = database.kind === "external" ? database.passwordSecret : "databasePassword";
    throw new Error(`tracking.database needs a password: set it with \`pulumi config set --secret mlops:${key}\``);
  }
  if (objectStore.kind === "inStack" && args.objectStoreCredentials === undefined) {
    throw new Error("tracking.objectStore is inStack: the object store needs an access key pair (the driver generates one; pass objectStoreCredentials)");
  }
  return { database, objectStore };
}

/** PostgreSQL, an S3 object store and MLflow as containers on one user network of one Docker host. */
export class DockerTrackingServer extends pulumi.ComponentResource implements TrackingServer {
  readonly driverTrackingUri: pulumi.Output<string>;
  readonly jobTrackingUri: pulumi.Output<string>;
  readonly artifactLocation: pulumi.Output<string>;
  readonly networkName: pulumi.Output<string>;

  constructor(name: string, args: DockerTrackingServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:docker:TrackingServer", name, {}, opts);
    const { database, objectStore } = checkedFor(this, () => {
      validatePrefix("DockerTrackingServer", name);
      return validateDockerTracking(args);
    });

    const topology = trackingTopology({
      prefix: name,
      mlflowImage: args.mlflowImage ?? builtImageRef(args.images, "mlflow"),
      port: args.port,
      publishedPort: args.publishedPort ?? args.port,
      publishHostIp: args.publishHostIp ?? "127.0.0.1",
      database,
      objectStore,
      hasObjectStoreCredentials: args.objectStoreCredentials !== undefined,
      authAdminUser: args.auth?.adminUser,
      resources: args.resources,
    });

    const secrets: pulumi.Output<SecretValues> = pulumi.secret(
      pulumi
        .all([args.databasePassword, args.objectStoreCredentials, args.auth?.adminPassword])
        .apply(([databasePassword, keys, authAdminPassword]) =>
          withAuthSecrets(
            { databasePassword, objectStoreAccessKeyId: keys?.accessKeyId, objectStoreSecretAccessKey: keys?.secretAccessKey, authAdminPassword },
            args.auth?.adminUser,
          ),
        ),
    );

    const network = deployNetwork(`${name}-network`, networkSpec(args.networkName, name), this);
    const volumes = topology.volumes.map((v) => deployVolume(v, this));
    const deployed = deployContainers(name, topology.groups, {
      images: new ImageSet(name, this),
      networkName: network.name,
      secrets,
      parent: this,
      dependsOn: [network, ...volumes],
    });
    const ready = pulumi.all([deployed.jobsSucceeded, pulumi.all(deployed.containers.map((c) => c.id))]);

    this.networkName = network.name;
    this.driverTrackingUri = ready.apply(() => topology.driverTrackingUri);
    this.jobTrackingUri = ready.apply(() => topology.jobTrackingUri);
    this.artifactLocation = pulumi.output(topology.artifactLocation);
    this.registerOutputs({
      driverTrackingUri: this.driverTrackingUri,
      jobTrackingUri: this.jobTrackingUri,
      artifactLocation: this.artifactLocation,
      networkName: this.networkName,
    });
  }
}
