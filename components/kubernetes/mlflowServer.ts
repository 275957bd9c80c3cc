import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Resources } from "../../config";
import { fromManifest } from "./manifestArgs";
import { childResourceName, serviceHost } from "./meta";
import { type ArtifactStoreAccess, buildMlflowDeployment, buildMlflowService, type PostgresConnection } from "./mlflowManifests";
import { movedChild } from "./movedChild";

export interface MlflowServerArgs {
  /** The tracking server's name: labels and object names carry it, so they stay what they were before the split. */
  readonly instance: string;
  readonly namespace: pulumi.Input<string>;
  readonly image: string;
  readonly port: number;
  readonly resources: Resources;
  readonly database: pulumi.Input<PostgresConnection>;
  readonly artifacts: pulumi.Input<ArtifactStoreAccess>;
  /** The tracking Secret: database password, S3 keys and, with basic auth, its config and CSRF key. */
  readonly secretName: pulumi.Input<string>;
  /** Digest of the Secret's values (trackingSecret.ts `secretDigestOf`): a rotation rolls MLflow's pods. */
  readonly secretDigest: pulumi.Input<string>;
  readonly basicAuth: boolean;
}

/** The MLflow server as a Deployment behind a ClusterIP Service. */
export class MlflowServer extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  /** The in-cluster tracking URI, known once the Deployment is ready (so consumers start only when MLflow answers). */
  readonly trackingUri: pulumi.Output<string>;

  constructor(name: string, args: MlflowServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:MlflowServer", name, {}, opts);
    const { instance, port } = args;
    const namespace = pulumi.output(args.namespace);
    const child = movedChild(this, opts?.parent);
    const resourceName = childResourceName(instance, "mlflow");

    const service = new k8s.core.v1.Service(resourceName, fromManifest(namespace.apply((ns) => buildMlflowService({ instance, namespace: ns, port }))), child);
    const deployment = new k8s.apps.v1.Deployment(
      resourceName,
      fromManifest(
        pulumi
          .all([namespace, service.metadata.name, args.secretName, args.database, args.artifacts, args.secretDigest])
          .apply(([ns, svc, secretName, database, artifacts, secretDigest]) =>
            buildMlflowDeployment({ ...args, namespace: ns, database, artifacts, secretName, secretDigest, serviceName: svc }),
          ),
      ),
      // Children do not inherit a component's dependsOn: the Deployment waits for the stores itself.
      movedChild(this, opts?.parent, { dependsOn: opts?.dependsOn }),
    );
    this.serviceName = service.metadata.name;
    this.trackingUri = pulumi.all([namespace, service.metadata.name, deployment.id]).apply(([ns, svc]) => `http://${serviceHost(svc, ns)}:${port}`);
    this.registerOutputs({ serviceName: this.serviceName, trackingUri: this.trackingUri });
  }
}
