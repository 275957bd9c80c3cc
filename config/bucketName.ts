/**
 * The S3 bucket-name rule, in one place: the config schema (in-stack and s3 object stores) and the
 * ArtifactBucket component both ask it. 3-63 lower-case letters, digits, '.' or '-', starting and ending
 * with a letter or digit, no '..' (AWS's rule; SeaweedFS and MinIO refuse the same names).
 */
const shape = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const bucketNameExpectation = "3-63 lower-case letters, digits, '.' or '-', starting and ending with a letter or digit, no '..'";

export function isValidBucketName(name: string): boolean {
  return shape.test(name) && !name.includes("..");
}
