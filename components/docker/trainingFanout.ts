import * as pulumi from "@pulumi/pulumi";
import type { TrainingFanout, TrainingFanoutArgs } from "../interfaces";
import { mlflowClientVars } from "../shared/mlflowClientEnv";
import { checkedFor } from "../shared/resourceError";
import { validateShards } from "../shared/sharding";
import { type SecretValues, validatePrefix } from "./specBasics";
import { studyIdLabel, trainingTopology } from "./trainingSpecs";
import { DockerDerivedImage, needsDerivedImage } from "./derivedImage";
import { deployContainers, ImageSet } from "./pulumiContainer";
import type { DockerPlatformArgs } from "./trackingServer";

/** `training.code` (a host folder) and `training.requirements`: set, the trainer image is derived from `image` with them. */
export interface UserImageArgs {
  readonly codeDir?: string;
  readonly requirements: readonly string[];
}

export interface DockerTrainingFanoutArgs extends TrainingFanoutArgs, DockerPlatformArgs {
  /** The user's code and pins; absent or empty, the trainer image is used as is. */
  readonly user?: UserImageArgs;
}

/** Docker needs the image name up front (it names the RemoteImage); an Output cannot be used here. */
export function plainImage(component: string, image: pulumi.Input<string> | undefined, fallback?: string): string {
  if (typeof image === "string") return image;
  if (image === undefined && fallback !== undefined) return fallback;
  throw new Error(`${component}: expected the image as a plain reference such as mlops-trainer:0.1.0 (build it with scripts/docker/build-images.sh)`);
}

/**
 * One `prepare` container, then one trainer container per worker running to completion: on the shared
 * queue (`queueDatabase`) identical pull-workers of one study, else one static shard each.
 */
export class DockerTrainingFanout extends pulumi.ComponentResource implements TrainingFanout {
  readonly studyId: pulumi.Output<string>;
  readonly workerCount: pulumi.Output<number>;

  constructor(name: string, args: DockerTrainingFanoutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:docker:TrainingFanout", name, {}, opts);
    const baseImage = checkedFor(this, () => {
      validatePrefix("DockerTrainingFanout", name);
      validateShards(args.shards, args.training.workers);
      return plainImage("DockerTrainingFanout", args.image);
    });
    const derived = args.user && needsDerivedImage(args.user) ? new DockerDerivedImage(`${name}-user-image`, { baseImage, ...args.user }, { parent: this }) : undefined;
    const image = derived?.ref ?? baseImage;

    const credentials = args.trackingCredentials;
    const queue = args.queueDatabase;
    const secrets: pulumi.Output<SecretValues> = pulumi.secret(
      pulumi.all([credentials?.password, queue?.password]).apply(([trackingPassword, databasePassword]) => ({ trackingPassword, databasePassword })),
    );
    // The URI may come from another stack: the specs carry a placeholder, filled in at deployment.
    const topology = checkedFor(this, () =>
      trainingTopology({
        prefix: name,
        trainerImage: image,
        trackingUri: "",
        shards: args.shards,
        retries: args.training.retries,
        resources: args.training.resources,
        trackingUsername: credentials?.username,
        rerunKey: args.rerunKey,
        queueDatabase: queue?.database,
      }),
    );
    const jobs = deployContainers(name, topology.groups, {
      images: new ImageSet(name, this, derived ? [derived] : []),
      networkName: args.networkName,
      secrets,
      parent: this,
      lateEnv: { [mlflowClientVars.trackingUri]: args.trackingUri },
    });

    const studyId = topology.prepare.labels[studyIdLabel] ?? "";
    this.studyId = jobs.jobsSucceeded.apply(() => studyId);
    this.workerCount = jobs.jobsSucceeded.apply(() => topology.workers.length);
    this.registerOutputs({ studyId: this.studyId, workerCount: this.workerCount });
  }
}
