import * as path from "node:path";
import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Platform } from "../config";
import type { ModelServing, ModelServingArgs, TrackingServer, TrackingServerArgs, TrainingFanout, TrainingFanoutArgs } from "../components/interfaces";
import { DockerModelServing, DockerTrackingServer, DockerTrainingFanout, type UserImageArgs, userCodeImagePath } from "../components/docker";
import { KubernetesModelServing, KubernetesTrackingServer, KubernetesTrainingFanout, queueClientSelectors } from "../components/kubernetes";
import { LocalModelServing, LocalTrackingServer, LocalTrainingFanout } from "../components/local";
import { imageRef, type PhaseContext, trainingComponentName } from "./context";

/** How one platform implements the three concerns; each adds its own platform settings to the shared args. */
export interface PlatformImplementation {
  /** `opts` (e.g. dependsOn a bucket the phase creates) are merged into the component's options. */
  tracking(name: string, args: TrackingServerArgs, ctx: PhaseContext, opts?: pulumi.ComponentResourceOptions): TrackingServer;
  training(name: string, args: TrainingFanoutArgs, ctx: PhaseContext): TrainingFanout;
  /** Where this platform's training workers find `training.code` (the study spec's codePath); unset: its host path. */
  readonly codePath?: string;
  serving(name: string, args: ModelServingArgs, ctx: PhaseContext): ModelServing;
}

const local: PlatformImplementation = {
  tracking: (name, args, ctx, opts) => new LocalTrackingServer(name, { ...args, paths: ctx.paths }, opts),
  training: (name, args, ctx) => new LocalTrainingFanout(name, { ...args, paths: ctx.paths }),
  serving: (name, args, ctx) => new LocalModelServing(name, { ...args, paths: ctx.paths }),
};

/** One explicit provider per phase stack: the kubeconfig context from config, or render-to-folder mode. */
function kubernetesProvider(name: string, ctx: PhaseContext): k8s.Provider {
  return new k8s.Provider(`${name}-k8s`, {
    context: ctx.config.kubernetes.context,
    renderYamlToDirectory: ctx.renderDir,
    namespace: ctx.config.kubernetes.namespace,
  });
}

const kubernetesOptions = (name: string, ctx: PhaseContext): pulumi.ComponentResourceOptions => ({ providers: { kubernetes: kubernetesProvider(name, ctx) } });

const kubernetes: PlatformImplementation = {
  tracking: (name, args, ctx, opts) => {
    const provider = kubernetesProvider(name, ctx);
    const { namespace, storageClass } = ctx.config.kubernetes;
    // The tracking phase runs first, so it owns the namespace every phase deploys into.
    const ns = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: namespace, labels: { "app.kubernetes.io/part-of": "mlops-pipeline" } } }, { provider });
    return new KubernetesTrackingServer(
      name,
      {
        ...args,
        namespace: ns.metadata.name,
        storageClass,
        image: imageRef(ctx.config, "mlflow"),
        // The training phase's pods share the study in the in-stack PostgreSQL (programs/training.ts).
        databaseClients: queueClientSelectors(trainingComponentName(ctx.stack)),
      },
      { ...opts, providers: { kubernetes: provider } },
    );
  },
  training: (name, args, ctx) =>
    new KubernetesTrainingFanout(name, { ...args, namespace: ctx.config.kubernetes.namespace, images: ctx.config.images }, kubernetesOptions(name, ctx)),
  serving: (name, args, ctx) =>
    new KubernetesModelServing(
      name,
      { ...args, namespace: ctx.config.kubernetes.namespace, ingressControllerNamespace: ctx.config.kubernetes.ingressControllerNamespace },
      kubernetesOptions(name, ctx),
    ),
};

/** The user's code folder (resolved like the study id's fingerprint of it) and pins, for the derived trainer image. */
function userImage(ctx: PhaseContext): UserImageArgs {
  const { code, requirements } = ctx.config.training;
  return { requirements, ...(code === undefined ? {} : { codeDir: path.resolve(code) }) };
}

/** One explicit provider per phase stack, on the Docker host from config (local socket or ssh://). */
function dockerOptions(name: string, ctx: PhaseContext): pulumi.ComponentResourceOptions {
  return { providers: { docker: new docker.Provider(`${name}-docker`, { host: ctx.config.docker.host }) } };
}

const dockerPlatform: PlatformImplementation = {
  tracking: (name, args, ctx, opts) =>
    new DockerTrackingServer(name, { ...args, networkName: ctx.config.docker.network, mlflowImage: imageRef(ctx.config, "mlflow") }, { ...opts, ...dockerOptions(name, ctx) }),
  training: (name, args, ctx) =>
    new DockerTrainingFanout(name, { ...args, image: imageRef(ctx.config, "trainer"), networkName: ctx.config.docker.network, user: userImage(ctx) }, dockerOptions(name, ctx)),
  // The logged model carries the user's code (MLflow code_paths): the serving image needs only the pins.
  serving: (name, args, ctx) =>
    new DockerModelServing(
      name,
      { ...args, image: imageRef(ctx.config, "serving"), networkName: ctx.config.docker.network, requirements: ctx.config.training.requirements },
      dockerOptions(name, ctx),
    ),
  codePath: userCodeImagePath,
};

const implementations: Record<Platform, PlatformImplementation> = { local, docker: dockerPlatform, kubernetes };

export function platformFor(platform: Platform): PlatformImplementation {
  return implementations[platform];
}
