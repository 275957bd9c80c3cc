import * as pulumi from "@pulumi/pulumi";
import type { ModelServing, ModelServingArgs } from "../interfaces";
import { builtImageRef } from "../shared/images";
import { mlflowClientVars } from "../shared/mlflowClientEnv";
import { checkedFor } from "../shared/resourceError";
import { DockerDerivedImage } from "./derivedImage";
import { deployContainers, ImageSet } from "./pulumiContainer";
import { servingTopology } from "./servingSpecs";
import { type SecretValues, validatePrefix } from "./specBasics";
import type { DockerPlatformArgs } from "./trackingServer";
import { plainImage } from "./trainingFanout";

export interface DockerModelServingArgs extends ModelServingArgs, DockerPlatformArgs {
  /** Host port of the load balancer; defaults to serving.loadBalancerPort. */
  readonly publishedPort?: number;
  /** `training.requirements`: set, the serving image is derived from `image` with these pins (the model carries the user's code). */
  readonly requirements?: readonly string[];
}

/** R model-server containers behind an nginx load balancer whose upstream lists every replica. */
export class DockerModelServing extends pulumi.ComponentResource implements ModelServing {
  readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: DockerModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:docker:ModelServing", name, {}, opts);
    const baseImage = checkedFor(this, () => {
      validatePrefix("DockerModelServing", name);
      return plainImage("DockerModelServing", args.image, builtImageRef(args.images, "serving"));
    });
    const requirements = args.requirements ?? [];
    const derived = requirements.length > 0 ? new DockerDerivedImage(`${name}-user-image`, { baseImage, requirements }, { parent: this }) : undefined;
    const servingImage = derived?.ref ?? baseImage;
    const credentials = args.trackingCredentials;
    const secrets: pulumi.Output<SecretValues> = pulumi.secret(
      pulumi.all([credentials?.password, args.apiKey]).apply(([trackingPassword, servingApiKey]) => ({ trackingPassword, servingApiKey })),
    );

    // Model URI, tracking URI and model version may come from other stacks: filled in at deployment.
    const topology = checkedFor(this, () =>
      servingTopology({
        prefix: name,
        servingImage,
        loadBalancerImage: args.images.loadBalancer,
        modelUri: "",
        trackingUri: "",
        serving: args.serving,
        publishedPort: args.publishedPort ?? args.serving.loadBalancerPort,
        publishHostIp: args.publishHostIp ?? "127.0.0.1",
        modelVersion: "",
        trackingUsername: credentials?.username,
        auth: args.apiKey !== undefined,
        workers: args.workers,
      }),
    );
    // A new MODEL_VERSION replaces the replicas one by one; nginx stays and follows their new addresses.
    const lateEnv = { MODEL_URI: args.modelUri, [mlflowClientVars.trackingUri]: args.trackingUri, MODEL_VERSION: args.modelVersion ?? "" };
    const deployed = deployContainers(name, topology.groups, {
      images: new ImageSet(name, this, derived ? [derived] : []),
      networkName: args.networkName,
      secrets,
      parent: this,
      lateEnv,
      rolling: topology.replicas.map((r) => r.role),
    });
    const loadBalancer = deployed.containers[deployed.containers.length - 1];
    this.endpoint = pulumi.output(loadBalancer?.id ?? "").apply(() => topology.endpoint);
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
