import * as pulumi from "@pulumi/pulumi";
import { installPulumiMocks, isRpcSecret, outputValue as value, type Registered } from "./support/pulumiMocks";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type * as External from "../../components/external";

/** The external-service components against Pulumi's mock monitor: the AWS and PostgreSQL providers cannot be installed here. */

let registered: Registered[] = [];
let external: typeof External;

beforeAll(async () => {
  registered = await installPulumiMocks(({ type, name, inputs }) => {
    if (type !== "aws:s3/bucket:Bucket") return {};
    const bucket = typeof inputs.bucket === "string" ? inputs.bucket : `${name}-4f1e2d3`;
    return { id: bucket, state: { bucket, arn: `arn:aws:s3:::${bucket}` } };
  });
  external = await import("../../components/external");
});

beforeEach(() => {
  registered.splice(0);
});

const inputsOf = (type: string) => {
  const found = registered.filter((r) => r.type === type);
  expect(found, type).toHaveLength(1);
  return found[0] ?? { type, name: "", inputs: {}, provider: "" };
};

describe("ManagedPostgres (mocked provider)", () => {
  const args = (overrides: Partial<External.ManagedPostgresArgs> = {}): External.ManagedPostgresArgs => ({
    host: "db.example.com",
    adminUser: "postgres",
    adminPassword: pulumi.secret("admin-pw-83a1"),
    database: "mlflow",
    user: "mlflow",
    userPassword: "user-pw-1c9e",
    ...overrides,
  });

  it("creates the role and a database it owns through an explicit provider built from the args", async () => {
    const pg = new external.ManagedPostgres("prod-db", args());
    expect(await value(pg.database)).toBe("mlflow");
    expect(await value(pg.user)).toBe("mlflow");
    expect(await value(pg.host)).toBe("db.example.com");
    expect(await value(pg.port)).toBe(5432);
    expect(registered.map((r) => r.type).sort()).toEqual([
      "mlops:external:ManagedPostgres",
      "postgresql:index/database:Database",
      "postgresql:index/role:Role",
      "pulumi:providers:postgresql",
    ]);

    const provider = inputsOf("pulumi:providers:postgresql");
    expect(provider.inputs).toMatchObject({ host: "db.example.com", port: "5432", username: "postgres", sslmode: "require", superuser: "false" });
    expect(isRpcSecret(provider.inputs.password)).toBe(true);

    const role = inputsOf("postgresql:index/role:Role");
    expect(role.inputs).toMatchObject({ name: "mlflow", login: true });
    expect(isRpcSecret(role.inputs.password), "a plain userPassword is still stored as a secret").toBe(true);
    expect(role.provider).toContain("prod-db-admin");

    const database = inputsOf("postgresql:index/database:Database");
    expect(database.inputs).toMatchObject({ name: "mlflow", owner: "mlflow", encoding: "UTF8", template: "template0" });
    expect(database.provider).toContain("prod-db-admin");
  });

  it.each([
    [{ database: "ml-flow" }, /database 'ml-flow' must be a plain PostgreSQL identifier/],
    [{ user: "1user" }, /user '1user' must be a plain PostgreSQL identifier/],
    [{ port: 70000 }, /port 70000 must be 1-65535/],
  ])("refuses bad args with what to change (%#)", (overrides, message) => {
    expect(() => new external.ManagedPostgres("prod-db", args(overrides))).toThrow(message);
  });
});

describe("ArtifactBucket (mock: the aws plugin cannot be built offline)", () => {
  it("creates a versioned, encrypted, private bucket with ACLs disabled, through an explicit aws provider", async () => {
    const bucket = new external.ArtifactBucket("prod-artifacts", { bucketName: "acme-mlflow-artifacts", prefix: "/mlflow/" });
    expect(await value(bucket.artifactUri)).toBe("s3://acme-mlflow-artifacts/mlflow");
    expect(await value(bucket.arn)).toBe("arn:aws:s3:::acme-mlflow-artifacts");
    expect(registered.map((r) => r.type).sort()).toEqual([
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      "aws:s3/bucketVersioning:BucketVersioning",
      "mlops:external:ArtifactBucket",
      "pulumi:providers:aws",
    ]);
    expect(
      registered.filter((r) => r.type.startsWith("aws:")).every((r) => r.provider.includes("prod-artifacts-aws")),
      "every bucket resource uses the component's provider",
    ).toBe(true);
    expect(inputsOf("pulumi:providers:aws").inputs).toMatchObject({ region: "us-east-1" });
    expect(inputsOf("pulumi:providers:aws").inputs.accessKey, "no keys: the ambient AWS credentials").toBeUndefined();
    expect(inputsOf("aws:s3/bucket:Bucket").inputs).toMatchObject({ bucket: "acme-mlflow-artifacts", forceDestroy: false });
    expect(inputsOf("aws:s3/bucketVersioning:BucketVersioning").inputs).toEqual({ bucket: "acme-mlflow-artifacts", versioningConfiguration: { status: "Enabled" } });
    expect(inputsOf("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs).toEqual({
      bucket: "acme-mlflow-artifacts",
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(inputsOf("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs).toEqual({
      bucket: "acme-mlflow-artifacts",
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
    expect(inputsOf("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs).toEqual({
      bucket: "acme-mlflow-artifacts",
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: false }],
    });
  });

  it("uses SSE-KMS with a bucket key when a KMS key is given, and a generated name otherwise", async () => {
    const bucket = new external.ArtifactBucket("dev-artifacts", { kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/abc", prefix: "" });
    expect(await value(bucket.artifactUri)).toBe("s3://dev-artifacts-bucket-4f1e2d3");
    expect(inputsOf("aws:s3/bucket:Bucket").inputs.bucket).toBeUndefined();
    expect(inputsOf("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:eu-west-1:123456789012:key/abc" }, bucketKeyEnabled: true },
    ]);
  });

  it.each(["Bad_Bucket", "ab", "a..b"])("refuses the bucket name %s with what is expected", (bucketName) => {
    expect(() => new external.ArtifactBucket("prod-artifacts", { bucketName })).toThrow(/bucketName '.*' must be 3-63 lower-case letters/);
  });
});

describe("the S3 bucket-name rule (config/bucketName.ts), one owner for the config and ArtifactBucket", () => {
  it.each(["Bad_Bucket", "ab", "a..b", "-abc", "abc-"])("both refuse %s", async (name) => {
    const { parseStackConfig } = await import("../../config");
    const { isValidBucketName } = await import("../../config/bucketName");
    expect(isValidBucketName(name)).toBe(false);
    for (const objectStore of [
      { kind: "s3", bucket: name },
      { kind: "inStack", bucket: name },
    ]) {
      expect(() => parseStackConfig({ "mlops:platform": "docker", "mlops:tracking": { objectStore } }, "Pulumi.dev.yaml"), JSON.stringify(objectStore)).toThrow(
        /expected an S3 bucket name/,
      );
    }
  });

  it.each(["mlflow", "acme-mlflow-artifacts", "a.b-c"])("both accept %s", async (name) => {
    const { isValidBucketName } = await import("../../config/bucketName");
    expect(isValidBucketName(name)).toBe(true);
  });
});
