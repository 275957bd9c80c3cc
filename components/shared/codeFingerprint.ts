import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileSha256 } from "./datasetFingerprint";

/** Build output that changes without the code changing. */
const ignored = new Set(["__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"]);

/** Whether a file or folder name in a code folder is build output (not part of the code's content, nor copied into images). */
export const isBuildOutput = (name: string) => ignored.has(name) || name.endsWith(".pyc");

function files(root: string, dir = root): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !isBuildOutput(entry.name))
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return files(root, full);
      return entry.isFile() ? [full] : [];
    });
}

/**
 * The sha256 of a code folder's files (relative path and content, in sorted order): the study id
 * carries it, so changed user code is a new study rather than a rerun that trains nothing.
 * Throws a message naming the folder when it is missing.
 */
export function codeFingerprint(folder: string): string {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new Error(`${folder}: expected a folder of Python modules`);
  const hash = createHash("sha256");
  for (const file of files(folder).sort()) hash.update(`${path.relative(folder, file)}\0${fileSha256(file).sha256}\n`);
  return hash.digest("hex");
}
