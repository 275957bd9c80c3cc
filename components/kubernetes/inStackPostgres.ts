import * as pulumi from "@pulumi/pulumi";
import { buildWith } from "./manifestArgs";
import type { InStackStoreArgs } from "./inStackObjectStore";
import { childResourceName, objectLabels, roles, serviceHost } from "./meta";
import type { PostgresConnection } from "./mlflowManifests";
import { deployStoreResources } from "./storeResources";
import { buildPostgresService, buildPostgresStatefulSet, type PostgresParams, postgresPort, postgresSelector } from "./postgresManifests";

/** What the StatefulSet is built from, with references to other resources as Inputs. */
export interface InStackPostgresArgs extends Omit<PostgresParams, "namespace" | "serviceName" | "secretName" | "secretDigest">, InStackStoreArgs {}

/** PostgreSQL for MLflow as a single-replica StatefulSet behind a Service, reachable only by its clients. */
export class InStackPostgres extends pulumi.ComponentResource {
  /** How MLflow reaches the database; known once the Service is (the password stays in the Secret). */
  readonly connection: pulumi.Output<PostgresConnection>;

  constructor(name: string, args: InStackPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:kubernetes:InStackPostgres", name, {}, opts);
    const { instance, namespace } = { ...args, namespace: pulumi.output(args.namespace) };
    const { service } = deployStoreResources(this, opts?.parent, {
      resourceName: childResourceName(instance, "postgres"),
      namespace,
      secretName: args.secretName,
      secretDigest: args.secretDigest,
      service: (ns) => buildPostgresService({ instance, namespace: ns }),
      statefulSet: (refs) => buildPostgresStatefulSet({ ...args, ...refs }),
      policy: { labels: objectLabels(instance, "postgresql", roles.database), podSelector: postgresSelector(instance), allowPods: args.clients, port: postgresPort },
    });
    // Only the Service: the tracking Secret (which the StatefulSet reads) is built from this connection.
    this.connection = buildWith({ ns: namespace, svc: service.metadata.name }, (r) => ({
      host: serviceHost(r.svc, r.ns),
      port: postgresPort,
      database: args.database,
      user: args.user,
      sslMode: "disable" as const,
    }));
    this.registerOutputs({ connection: this.connection });
  }
}
