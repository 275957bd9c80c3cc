import type { ImagesConfig } from "../../config";
import { imageContract } from "../../config/imageContract";

/** `<registry>/<name>:<tag>`, or `<name>:<tag>` for a local engine; the one rule every platform names our images by. */
export function imageRef(images: Pick<ImagesConfig, "registry" | "tag">, name: string): string {
  const registry = images.registry.replace(/\/+$/, "");
  return registry ? `${registry}/${name}:${images.tag}` : `${name}:${images.tag}`;
}

/** The images scripts/docker/build-images.sh builds from images/<role> (IMAGE_ROLES of images/images.env). */
export type BuiltImageRole = "mlflow" | "trainer" | "serving";

/** `[<registry>/]mlops-<role>:<tag>`: the one place our own images are named, for every platform and program. */
export function builtImageRef(images: Pick<ImagesConfig, "registry" | "tag">, role: BuiltImageRole): string {
  return imageRef(images, `${imageContract.namePrefix}${role}`);
}

/** S3 servers we know how to run in the stack: MinIO (the config default) and SeaweedFS (Apache-2.0). */
export type ObjectStoreFlavor = "minio" | "seaweedfs";

/** Which S3 server an image runs, from its repository name; the docker and kubernetes platforms start each differently. */
export function objectStoreFlavor(image: string): ObjectStoreFlavor {
  const repository =
    (image.split("@")[0] ?? image)
      .replace(/:[^/]*$/, "")
      .split("/")
      .pop() ?? "";
  if (repository.includes("minio")) return "minio";
  if (repository.includes("seaweedfs")) return "seaweedfs";
  throw new Error(
    `tracking.objectStore.image '${image}': expected a MinIO or SeaweedFS image (e.g. chrislusf/seaweedfs:3.80); other S3 servers can be used as kind: s3 with an endpoint`,
  );
}
