import * as pulumi from "@pulumi/pulumi";

/**
 * Builders return plain manifests; references to other resources (auto-generated names, the
 * namespace) are only known as Outputs, so components build inside `apply` and split the result
 * back into the fields a Pulumi Kubernetes resource takes.
 */
export function fromManifest<T extends { readonly metadata?: unknown; readonly spec?: unknown }>(built: pulumi.Output<T>) {
  // Builders emit plain values, so the Input union collapses to its plain member.
  return {
    metadata: built.apply((m) => m.metadata ?? {}) as unknown as pulumi.Output<Resolved<T["metadata"]>>,
    spec: built.apply((m) => m.spec ?? {}) as unknown as pulumi.Output<Resolved<T["spec"]>>,
  };
}

type Resolved<X> = X extends pulumi.OutputInstance<infer V> ? V : X extends Promise<infer V> ? V : Exclude<X, undefined>;

/** Resolves the references a builder needs, then builds. */
export function buildWith<R extends Record<string, pulumi.Input<string>>, T>(refs: R, build: (resolved: { [K in keyof R]: string }) => T): pulumi.Output<T> {
  return pulumi.output(refs).apply((resolved) => build(resolved as { [K in keyof R]: string })) as pulumi.Output<T>;
}
