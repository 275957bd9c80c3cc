export * from "./externalPostgres";
export * from "./s3Bucket";
