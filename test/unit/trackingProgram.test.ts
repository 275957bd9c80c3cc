import * as pulumi from "@pulumi/pulumi";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { localPaths } from "../../components/local/paths";
import { loadStackConfig, objectStoreSchema } from "../../config";
import type { PhaseContext } from "../../programs/context";
import { installPulumiMocks, isRpcSecret, outputValue, type Registered, secretValue } from "./support/pulumiMocks";
import { trackingCalls } from "./support/recordedTracking";

/**
 * The tracking phase program: `objectStore.kind: s3` with `create: true` builds the bucket (ArtifactBucket)
 * before the tracking server, which depends on it; and `portForwardCommand` is exported only when the
 * platform's server declares one. The AWS provider plugin cannot be built offline, so every test here runs
 * against Pulumi's mock monitor; the aws resources are judged by their inputs.
 */

const root = `${__dirname}/../..`;
// The real platforms, with the options each tracking call receives recorded.
vi.mock("../../programs/platforms", async (importActual) => (await import("./support/recordedTracking")).recordingPlatforms(importActual));
const calls = trackingCalls;

let registered: Registered[] = [];
let tracking: typeof import("../../programs/tracking");
let external: typeof import("../../components/external");
let platforms: typeof import("../../programs/platforms");

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    if (type === "aws:s3/bucket:Bucket") return { id: String(inputs.bucket), state: { arn: `arn:aws:s3:::${inputs.bucket}` } };
    if (type.startsWith("kubernetes:")) return { state: { metadata: { ...(inputs.metadata as object), name: `${name}-x` }, status: { succeeded: 1 } } };
    if (type === "docker:index/container:Container") return { state: { exitCode: 0, containerLogs: "" } };
    return { state: { pid: 1 } };
  });
  tracking = await import("../../programs/tracking");
  external = await import("../../components/external");
  platforms = await import("../../programs/platforms");
});

beforeEach(() => {
  registered.splice(0);
  calls.splice(0);
});

const credentials = { accessKeyId: "AKIATESTKEY000000000", secretAccessKey: "secret-access-key-0123456789" };

function context(stack: string, objectStore?: unknown): PhaseContext {
  const config = loadStackConfig(root, stack);
  const store = objectStore === undefined ? config.tracking.objectStore : objectStoreSchema.parse(objectStore);
  return {
    stack,
    config: { ...config, tracking: { ...config.tracking, objectStore: store } },
    paths: localPaths("/work/proj", stack),
    secrets: {
      databasePassword: pulumi.secret("database-password-0123456789"),
      objectStoreCredentials: pulumi.secret(credentials),
      authAdminPassword: pulumi.secret("admin-password-0123456789"),
      secretDigestKey: pulumi.secret("digest-key-0123456789abcdef"),
    },
  };
}

/** The bucket the tracking server was told to wait for; resolving its URI lets every child register. */
async function awaitedBucket(): Promise<InstanceType<typeof external.ArtifactBucket>> {
  const dependsOn = calls[0]?.opts?.dependsOn;
  const bucket = Array.isArray(dependsOn) ? dependsOn[0] : undefined;
  if (!(bucket instanceof external.ArtifactBucket)) throw new Error(`expected the tracking server to depend on an ArtifactBucket, got ${String(dependsOn)}`);
  await outputValue(bucket.artifactUri);
  return bucket;
}

const one = (type: string) => {
  const found = registered.filter((r) => r.type === type);
  expect(
    found.map((r) => r.name),
    type,
  ).toHaveLength(1);
  return found[0] as Registered;
};

describe("tracking phase with objectStore s3 and create: true (mock: the aws plugin cannot be built offline)", () => {
  it.each(["local", "dev", "prod"])("stack %s creates the bucket through an explicit aws provider, and the server depends on it", async (stack) => {
    const server = tracking.trackingProgram(context(stack, { kind: "s3", bucket: "acme-mlflow-artifacts", prefix: "runs", region: "eu-west-1", create: true }));
    expect(await outputValue(server.artifactLocation)).toMatch(/^s3:\/\/acme-mlflow-artifacts\/runs/);
    const bucket = await awaitedBucket();
    expect(await outputValue(bucket.artifactUri)).toBe("s3://acme-mlflow-artifacts/runs");
    expect(one("aws:s3/bucket:Bucket").inputs).toMatchObject({ bucket: "acme-mlflow-artifacts", forceDestroy: false });
    expect(one("aws:s3/bucket:Bucket").provider).toContain(`${stack}-tracking-artifacts-aws`);
    const provider = one("pulumi:providers:aws").inputs;
    expect(provider.region).toBe("eu-west-1");
    expect(provider.endpoints).toBeUndefined();
    expect(isRpcSecret(provider.accessKey) && isRpcSecret(provider.secretKey), "the provider's keys are secrets").toBe(true);
    expect(secretValue(provider.accessKey)).toBe(credentials.accessKeyId);
    expect(calls[0]?.opts?.dependsOn, "the tracking server waits for the bucket, and only for it").toEqual([bucket]);
  });

  it("an S3-compatible endpoint gets path-style addressing and no AWS account checks", async () => {
    tracking.trackingProgram(context("dev", { kind: "s3", bucket: "mlflow", endpoint: "http://seaweedfs.example:8333", create: true }));
    await awaitedBucket();
    const provider = one("pulumi:providers:aws").inputs;
    // Provider inputs reach the engine as strings: nested values JSON-encoded.
    expect(JSON.parse(String(provider.endpoints))).toEqual([{ s3: "http://seaweedfs.example:8333" }]);
    expect(provider).toMatchObject({
      region: "us-east-1",
      s3UsePathStyle: "true",
      skipCredentialsValidation: "true",
      skipRequestingAccountId: "true",
    });
  });

  it("without create (or with another store) no bucket and no aws provider are declared", () => {
    tracking.trackingProgram(context("prod", { kind: "s3", bucket: "acme-mlflow-artifacts" }));
    tracking.trackingProgram(context("dev"));
    expect(registered.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws" || r.type === "mlops:external:ArtifactBucket")).toEqual([]);
    expect(calls.map((c) => c.opts)).toEqual([undefined, undefined]);
  });
});

describe("tracking phase outputs and options (mocked providers)", () => {
  it.each([
    ["local", "local"],
    ["dev", "docker"],
    ["prod", "kubernetes"],
  ])("stack %s: the options the program passes reach the %s tracking server", (stack, platform) => {
    const seen: string[] = [];
    const record: pulumi.ResourceTransformation = ({ type }) => {
      seen.push(type);
      return undefined;
    };
    const ctx = context(stack);
    platforms.platformFor(ctx.config.platform).tracking(`${stack}-tracking`, tracking.trackingServerArgs(ctx), ctx, { transformations: [record] });
    expect(seen).toContain(`mlops:${platform}:TrackingServer`);
  });

  it.each([
    ["local", false],
    ["dev", false],
    ["prod", true],
  ])("stack %s exports portForwardCommand: %s (only a server that declares one)", async (stack, expected) => {
    const outputs = tracking.trackingPhase(context(stack));
    expect("portForwardCommand" in outputs).toBe(expected);
    if (expected) expect(await outputValue((outputs as { portForwardCommand: pulumi.Output<string> }).portForwardCommand)).toMatch(/^kubectl -n \S+ port-forward svc\//);
  });
});
