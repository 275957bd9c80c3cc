// Components for services that live outside the stack's platform: a managed PostgreSQL database
// (@pulumi/postgresql, for `tracking.database.manage`) and an S3 bucket (@pulumi/aws), which the
// tracking program creates for `tracking.objectStore.create` (programs/tracking.ts).
export * from "./externalPostgres";
export * from "./s3Bucket";
