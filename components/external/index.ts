// Components for services that live outside the stack's platform: a managed PostgreSQL database
// (@pulumi/postgresql) and an S3 bucket (@pulumi/aws). The tracking program builds them when the
// config asks for them (`tracking.objectStore.create`).
export * from "./externalPostgres";
export * from "./s3Bucket";
