import * as pulumi from "@pulumi/pulumi";

/**
 * Runs a component's argument checks and reports what they refuse as a `pulumi.ResourceError` on the
 * component, so the engine names the resource and prints the message without a stack trace.
 */
export function checkedFor<T>(resource: pulumi.Resource, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof Error && !(err instanceof pulumi.ResourceError)) throw new pulumi.ResourceError(err.message, resource, true);
    throw err;
  }
}
