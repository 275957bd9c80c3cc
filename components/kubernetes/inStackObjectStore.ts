import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { buildWith, fromManifest } from "./manifestArgs";
import { childResourceName, type Labels, objectLabels, roles, serviceHost } from "./meta";
import type { ArtifactStoreAccess } from "./mlflowManifests";
import { movedChild } from "./movedChild";
import {
  bucketInitSelector,
  buildBucketJob,
  buildObjectStoreService,
  buildObjectStoreStatefulSet,
  type ObjectStoreParams,
  objectStoreSelector,
  s3Port,
} from "./objectStoreManifests";
import { deployStoreResources } from "./storeResources";

/** What both in-stack stores take besides their manifest params: the instance's references and who may connect. */
export interface InStackStoreArgs {
  /** The tracking server's name: labels and object names carry it, so they stay what they were before the split. */
  readonly instance: string;
  readonly namespace: pulumi.Input<string>;
  /** The tracking Secret holding the store's credentials. */
  readonly secretName: pulumi.Input<string>;
  /** Digest of the Secret values the store reads: a new one (a rotation) restarts its pod. */
  readonly secretDigest: pulumi.Input<string>;
  /** Pods allowed to connect (the MLflow server); a NetworkPolicy refuses everything else. */
  readonly clients: readonly Labels[];
}

export interface InStackObjectStoreArgs extends Omit<ObjectStoreParams, "namespace" | "serviceName" | "secretName" | "secretDigest">, InStackStoreArgs {
  readonly bucket: string;
  /** The MLflow image, which also runs the bucket creation job (create_bucket.py, boto3). */
  readonly bucketJobImage: string;
}

/** An S3 server as a single-replica StatefulSet, and a Job that creates MLflow's bucket once it answers. */
export class InStackObjectStore extends pulumi.ComponentResource {
  /** Where MLflow keeps artifacts and how it reaches them; known once the Service is. */
  readonly access: pulumi.Output<ArtifactStoreAccess>;

  constructor(name: string, args: InStackObjectStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:InStackObjectStore", name, {}, opts);
    const { instance, namespace } = { ...args, namespace: pulumi.output(args.namespace) };
    const { service, statefulSet } = deployStoreResources(this, opts?.parent, {
      resourceName: childResourceName(instance, "object-store"),
      namespace,
      secretName: args.secretName,
      secretDigest: args.secretDigest,
      service: (ns) => buildObjectStoreService({ instance, namespace: ns }),
      statefulSet: (refs) => buildObjectStoreStatefulSet({ ...args, ...refs }),
      policy: {
        labels: objectLabels(instance, "object-store", roles.objectStore),
        podSelector: objectStoreSelector(instance),
        allowPods: [...args.clients, bucketInitSelector(instance)],
        port: s3Port,
      },
    });
    this.access = buildWith({ ns: namespace, svc: service.metadata.name }, (r) => ({
      destination: `s3://${args.bucket}/mlflow`,
      endpointUrl: `http://${serviceHost(r.svc, r.ns)}:${s3Port}`,
      region: "us-east-1",
      hasCredentials: true,
    }));
    new k8s.batch.v1.Job(
      childResourceName(instance, "create-bucket"),
      fromManifest(
        buildWith({ ns: namespace, secret: args.secretName, endpoint: this.access.apply((a) => a.endpointUrl ?? "") }, (r) =>
          buildBucketJob({ instance, namespace: r.ns, image: args.bucketJobImage, bucket: args.bucket, endpointUrl: r.endpoint, secretName: r.secret }),
        ),
      ),
      movedChild(this, opts?.parent, { dependsOn: [statefulSet] }),
    );
    this.registerOutputs({ access: this.access });
  }
}
