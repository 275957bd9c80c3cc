import * as pulumi from "@pulumi/pulumi";

/**
 * One harness for the mock tests of every platform: install Pulumi's mock monitor once, record
 * every resource registration, and read Outputs and secrets back. Each test file passes only what
 * its provider would compute (auto-names, ids, status).
 */

export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly provider: string;
}

export interface MockResult {
  readonly id?: string;
  readonly state?: Record<string, unknown>;
}

/** What the provider would add to a resource's state; inputs are always echoed back. */
export type ComputeState = (resource: Registered) => MockResult;

/**
 * Installs the mocks and returns the list registrations are recorded in. Call in `beforeAll`,
 * BEFORE importing the module under test.
 */
export async function installPulumiMocks(compute: ComputeState = () => ({})): Promise<Registered[]> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const resource: Registered = { type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown>, provider: args.provider ?? "" };
        registered.push(resource);
        const extra = compute(resource);
        return { id: extra.id ?? `${args.name}-id`, state: { ...resource.inputs, ...(extra.state ?? {}) } };
      },
      call: (args) => args.inputs,
    },
    "project",
    "stack",
    false,
  );
  return registered;
}

/** Resolves an Output (mocks resolve every value, so this never hangs on a returned property). */
export const outputValue = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply(resolve));

/** The marker the mock monitor puts on secret values (an RPC-level wrapper, invisible to programs). */
export const secretSignature = "1b47061264138c4ac30d75fd1eb44270";
const secretKey = "4dabf18193072939515e22adb298388d";

export const isRpcSecret = (value: unknown) => typeof value === "object" && value !== null && Object.values(value).includes(secretSignature);

/** The plain value inside a secret input; throws when the input was not sent as a secret (a leak). */
export function secretValue<T>(input: unknown): T {
  const wrapped = input as Record<string, unknown> | undefined;
  if (wrapped?.[secretKey] !== secretSignature) throw new Error(`expected a secret input, got ${JSON.stringify(input)?.slice(0, 120)}`);
  return wrapped.value as T;
}
