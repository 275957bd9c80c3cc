import type * as pulumi from "@pulumi/pulumi";

/**
 * Options of a child that was created directly under the tracking server before it was split into
 * sub-components: the alias names that old parent, so an existing stack updates the child in place
 * instead of deleting and recreating it (test/integration/componentAliases.test.ts proves it).
 */
export function movedChild(component: pulumi.ComponentResource, formerParent: pulumi.Resource | undefined, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
  return { ...extra, parent: component, ...(formerParent ? { aliases: [{ parent: formerParent }] } : {}) };
}
