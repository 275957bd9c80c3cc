import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { asFields, list, text } from "./postureModel";

/** Every object in the YAML files under `dir` (recursively), with `List` kinds flattened. */
export function readManifests(dir: string): unknown[] {
  const files = fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8")).flatMap((doc) => {
      if (doc.errors.length > 0) throw new Error(`${path.join(dir, file)}: expected valid YAML: ${doc.errors[0]?.message.split("\n")[0]}`);
      const value: unknown = doc.toJS();
      const fields = asFields(value);
      if (!fields) return [];
      return text(fields.kind)?.endsWith("List") ? [...list(fields.items)] : [value];
    }),
  );
}
