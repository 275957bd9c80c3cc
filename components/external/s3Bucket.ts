import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { bucketNameExpectation, isValidBucketName } from "../../config/bucketName";

export interface ArtifactBucketArgs {
  /** The bucket name; omit to let Pulumi generate a unique one. */
  readonly bucketName?: string;
  /** Region of the bucket; default us-east-1. */
  readonly region?: string;
  /** An S3-compatible endpoint (MinIO, SeaweedFS, Ceph) instead of AWS S3; path-style addressing. */
  readonly endpoint?: string;
  /** Access key pair for the provider (Pulumi secrets); omit to use the ambient AWS credentials. */
  readonly credentials?: pulumi.Input<{ accessKeyId: string; secretAccessKey: string }>;
  /** Key prefix MLflow writes under; `artifactUri` is `s3://<bucket>/<prefix>`. */
  readonly prefix?: string;
  /** Encrypt with this KMS key (SSE-KMS); omit for S3-managed keys (SSE-S3). */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Allow `pulumi destroy` to delete a bucket that still holds artifacts; default false. */
  readonly forceDestroy?: boolean;
  readonly tags?: Record<string, string>;
}

export function validateArtifactBucketArgs(args: ArtifactBucketArgs): void {
  if (args.bucketName !== undefined && !isValidBucketName(args.bucketName)) {
    throw new Error(`ArtifactBucket: bucketName '${args.bucketName}' must be ${bucketNameExpectation}`);
  }
}

/**
 * Settings of the explicit AWS provider the bucket is created with: the stack's region, endpoint and
 * keys, never whatever default provider the environment would configure. An S3-compatible endpoint
 * gets path-style addressing and skips the AWS-only account and region checks.
 */
export function awsProviderArgs(args: Pick<ArtifactBucketArgs, "region" | "endpoint" | "credentials">): aws.ProviderArgs {
  const credentials = args.credentials === undefined ? undefined : pulumi.secret(args.credentials);
  return {
    region: args.region ?? "us-east-1",
    ...(credentials ? { accessKey: credentials.apply((c) => c.accessKeyId), secretKey: credentials.apply((c) => c.secretAccessKey) } : {}),
    ...(args.endpoint
      ? {
          endpoints: [{ s3: args.endpoint }],
          s3UsePathStyle: true,
          skipCredentialsValidation: true,
          skipRequestingAccountId: true,
          skipMetadataApiCheck: true,
          skipRegionValidation: true,
        }
      : {}),
  };
}

/**
 * The MLflow artifact bucket on AWS S3 (or an S3-compatible endpoint): versioned (an overwritten model can be recovered), encrypted
 * at rest, closed to public access, and with ACLs disabled so the account owns every object.
 */
export class ArtifactBucket extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly artifactUri: pulumi.Output<string>;

  constructor(name: string, args: ArtifactBucketArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("mlops:external:ArtifactBucket", name, {}, opts);
    validateArtifactBucketArgs(args);
    const provider = new aws.Provider(`${name}-aws`, awsProviderArgs(args), { parent: this });
    const child = { parent: this, provider };
    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { ...(args.bucketName ? { bucket: args.bucketName } : {}), forceDestroy: args.forceDestroy ?? false, tags: { "app.kubernetes.io/part-of": "mlops-pipeline", ...args.tags } },
      child,
    );
    const ownership = new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      child,
    );
    const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, child);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: args.kmsKeyArn ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn } : { sseAlgorithm: "AES256" },
            bucketKeyEnabled: args.kmsKeyArn !== undefined,
          },
        ],
      },
      child,
    );

    const prefix = (args.prefix ?? "mlflow").replace(/^\/+|\/+$/g, "");
    // Ready only once every protection is in place, so nothing is written to an unprotected bucket.
    const protectedName = pulumi.all([bucket.bucket, ownership.id, publicAccess.id, versioning.id, encryption.id]).apply(([n]) => n);
    this.bucketName = protectedName;
    this.arn = bucket.arn;
    this.artifactUri = protectedName.apply((n) => (prefix ? `s3://${n}/${prefix}` : `s3://${n}`));
    this.registerOutputs({ bucketName: this.bucketName, arn: this.arn, artifactUri: this.artifactUri });
  }
}
