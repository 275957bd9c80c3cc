import * as fs from "node:fs";
import * as path from "node:path";
import type { MlflowClient } from "../components/registry/mlflowClient";
import { fileSha256 } from "../components/shared";

/**
 * A local dataset file reaches docker and kubernetes workers through the stack's own artifact store:
 * the driver uploads it once through MLflow's artifact proxy, by content (its sha256 in the path, so
 * the stored copy and the study id agree), under the study's experiment, which the training user may
 * read and nobody else needs to. The workers then read `mlflow-artifacts:/...` with their MLflow
 * credentials: no object-store key ever reaches them.
 */

/** `<experiment id>/datasets/<sha256>/<file name>`: MLflow's auth checks artifact paths by their first segment, the experiment. */
export function datasetArtifactPath(experimentId: string, sha256: string, file: string): string {
  return `${experimentId}/datasets/${sha256}/${path.basename(file)}`;
}

/** Uploads the file unless the same content is already there; returns the `mlflow-artifacts:/` URI the workers read. */
export async function publishDataset(client: MlflowClient, experimentName: string, file: string, log: (line: string) => void): Promise<string> {
  const { sha256, bytes } = fileSha256(file);
  const experimentId = await client.ensureExperiment(experimentName);
  const target = datasetArtifactPath(experimentId, sha256, file);
  const uri = `mlflow-artifacts:/${target}`;
  const present = await client.listArtifacts(path.posix.dirname(target));
  if (present.some((f) => path.posix.basename(f.path) === path.basename(file) && f.file_size === bytes)) {
    log(`dataset ${path.basename(file)} (sha256 ${sha256.slice(0, 12)}) is already at ${uri}`);
    return uri;
  }
  const started = Date.now();
  await client.uploadArtifact(target, fs.readFileSync(file));
  log(`uploaded dataset ${path.basename(file)} (${bytes} bytes, sha256 ${sha256.slice(0, 12)}) to ${uri} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return uri;
}
