import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { localPaths } from "../../components/local/paths";
import { loadStackConfig, servingAuthEnabled } from "../../config";
import type { PhaseContext } from "../../programs/context";
import { installPulumiMocks, outputValue, type Registered } from "./support/pulumiMocks";

/**
 * Every shipped stack's three phase programs build on its own platform (mocked providers: the
 * docker provider cannot be installed offline, and no cluster is needed to declare resources).
 */

const root = `${__dirname}/../..`;
let registered: Registered[] = [];
let programs: {
  tracking: typeof import("../../programs/tracking");
  training: typeof import("../../programs/training");
  serving: typeof import("../../programs/serving");
};

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    // Docker jobs report their exit code; a finished job exits 0.
    if (type === "docker:index/container:Container") return { state: { exitCode: 0, containerLogs: "" } };
    if (type === "random:index/randomPassword:RandomPassword") return { state: { result: "generated-password-0123456789" } };
    if (!type.startsWith("kubernetes:")) return { state: { pid: 1 } };
    const metadata = typeof inputs.metadata === "object" && inputs.metadata !== null ? inputs.metadata : {};
    return { state: { metadata: { ...metadata, name: `${name}-x` }, status: { succeeded: 1 } } };
  });
  programs = { tracking: await import("../../programs/tracking"), training: await import("../../programs/training"), serving: await import("../../programs/serving") };
});

function context(stack: string): PhaseContext {
  const config = loadStackConfig(root, stack);
  return {
    stack,
    config,
    paths: localPaths("/work/proj", stack),
    secrets: {
      databasePassword: pulumi.secret("database-password-0123456789"),
      objectStoreCredentials: pulumi.secret({ accessKeyId: "access-key-id-0000000", secretAccessKey: "secret-access-key-0123456789" }),
      authAdminPassword: pulumi.secret("admin-password-0123456789"),
      secretDigestKey: pulumi.secret("digest-key-0123456789abcdef"),
      // The tracking phase generates these when auth is on (programs/secrets.ts); trainers and servers log in with them.
      trainingUserPassword: pulumi.secret("training-password-0123456789"),
      servingUserPassword: pulumi.secret("serving-password-0123456789"),
    },
  };
}

describe.each([
  ["local", "local", undefined],
  ["dev", "docker", "pulumi:providers:docker"],
  ["prod", "kubernetes", "pulumi:providers:kubernetes"],
])("stack %s builds on platform %s (mocked providers)", (stack, platform, providerType) => {
  it("declares tracking, training and serving with that platform's components", async () => {
    registered.splice(0);
    const ctx = context(stack);
    const tracking = programs.tracking.trackingProgram(ctx);
    const { fanout, trials } = programs.training.trainingProgram(ctx, tracking);
    const serving = programs.serving.servingProgram(ctx, { jobTrackingUri: tracking.jobTrackingUri, modelUri: "models:/m@champion", modelVersion: "1" });
    expect(await outputValue(fanout.studyId)).toMatch(new RegExp(`^${stack}-[0-9a-f]{10}$`));
    expect(trials).toBeGreaterThan(0);
    expect(await outputValue(serving.endpoint)).toMatch(/^https?:\/\//);
    const types = new Set(registered.map((r) => r.type));
    for (const concern of ["TrackingServer", "TrainingFanout", "ModelServing"]) expect(types).toContain(`mlops:${platform}:${concern}`);
    if (providerType) expect(types).toContain(providerType);
    const others = ["local", "docker", "kubernetes"].filter((p) => p !== platform);
    expect([...types].filter((t) => others.some((o) => t.startsWith(`mlops:${o}:`)))).toEqual([]);
    // serving.auth's default: a generated API key on docker and on kubernetes with an Ingress, none on local.
    const keyed = registered.some((r) => r.name === `${stack}-serving-api-key`);
    expect(keyed).toBe(servingAuthEnabled(ctx.config));
    expect(keyed).toBe(platform === "docker" || (platform === "kubernetes" && ctx.config.serving.ingress !== undefined));
  });
});
