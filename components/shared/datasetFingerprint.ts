import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * What the study id knows about the data and the library that trains on it, so that new data at
 * the same path, or another scikit-learn, is a new study instead of a rerun that trains nothing.
 *
 * - `generated`: the content follows from `dataset.generate`, already part of the study id.
 * - a local file: the sha256 of its bytes, read here because this is where the path is readable
 *   (the local platform's workers read the same path).
 * - `s3://` (or a path only the workers can read): the object's ETag and size need credentials the
 *   plan does not have, so the trainer checks the data instead: the first worker records the sha256
 *   of the bytes it read (and an S3 object's ETag and size) on the study run, and a worker that reads
 *   other bytes refuses to add its trials to that study (images/trainer/dataset.py, trainer.py).
 */
export type DatasetFingerprint =
  | { readonly kind: "generated" }
  | { readonly kind: "file"; readonly sha256: string; readonly bytes: number }
  | { readonly kind: "checked-by-trainer" };

/** Read in 1 MiB chunks; not cached by mtime, which a same-size rewrite within its resolution would fool. */
export function fileSha256(file: string): { sha256: string; bytes: number } {
  let bytes = 0;
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let read = fs.readSync(fd, chunk); read > 0; read = fs.readSync(fd, chunk)) {
      hash.update(chunk.subarray(0, read));
      bytes += read;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * The file of this machine a dataset source names, or undefined: generated data, `s3://`, or a path
 * only the docker/kubernetes workers can read (it need not exist here; its worker checks it).
 * Relative paths are read from `cwd`, the directory the local workers run in (the project).
 */
export function localDataFile(source: string, cwd: string = process.cwd()): string | undefined {
  if (source === "generated" || source.startsWith("s3://")) return undefined;
  const file = path.resolve(cwd, source);
  return fs.existsSync(file) ? file : undefined;
}

export function datasetFingerprint(source: string, cwd: string = process.cwd()): DatasetFingerprint {
  if (source === "generated") return { kind: "generated" };
  const file = localDataFile(source, cwd);
  return file === undefined ? { kind: "checked-by-trainer" } : { kind: "file", ...fileSha256(file) };
}

const lockFile = path.resolve(__dirname, "..", "..", "python", "requirements.lock");

/** The scikit-learn every trainer runs: the workloads' venv and images install exactly this lock. */
export function sklearnVersion(lock: string = lockFile): string {
  const match = /^scikit-learn==([^\s;]+)/m.exec(fs.readFileSync(lock, "utf8"));
  if (!match?.[1]) throw new Error(`${lock}: no scikit-learn==<version> pin: the study id needs it`);
  return match[1];
}
