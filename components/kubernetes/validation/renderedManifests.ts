import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { checkPosture } from "./posture";
import type { PostureExpectations, Violation } from "./postureTypes";
import { type SchemaProblem, validateManifestSchema } from "./openApiSchema";

/**
 * The render gate: every manifest under a folder (as `renderYamlToDirectory` writes them), checked
 * against the Kubernetes OpenAPI schemas one by one and against the posture rules all together.
 */

export interface ManifestReport {
  /** Path relative to the validated folder. */
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly raw: unknown;
  readonly schemaProblems: readonly SchemaProblem[];
  readonly violations: readonly Violation[];
}

export interface GateReport {
  readonly manifests: readonly ManifestReport[];
  /** Posture violations no single manifest carries (e.g. a missing Ingress). */
  readonly unattributed: readonly Violation[];
  /** Files that are not YAML objects at all. */
  readonly unreadable: readonly { readonly file: string; readonly problem: string }[];
  readonly ok: boolean;
}

const field = (value: unknown, key: string): unknown => (typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined);
const textAt = (value: unknown, ...keys: string[]) => {
  const found = keys.reduce<unknown>((node, key) => field(node, key), value);
  return typeof found === "string" ? found : "";
};

/** YAML files under each folder, as paths relative to `root`. */
function yamlFiles(root: string, folders: readonly string[]): string[] {
  return folders.flatMap((folder) =>
    fs
      .readdirSync(folder, { recursive: true, encoding: "utf8" })
      .filter((f) => /\.ya?ml$/.test(f) && fs.statSync(path.join(folder, f)).isFile())
      .map((f) => path.relative(root, path.join(folder, f)))
      .sort(),
  );
}

/**
 * Validates every YAML file under `folders` (default: `root` itself) as one set of manifests, so posture
 * rules see every phase together. Finding nothing is a failure: nothing was rendered.
 */
export function validateManifestFolder(root: string, expect: PostureExpectations, folders: readonly string[] = [root]): GateReport {
  const unreadable: { file: string; problem: string }[] = [];
  const parsed: { file: string; raw: unknown }[] = [];
  for (const file of yamlFiles(root, folders)) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(root, file), "utf8"))) {
      if (doc.errors.length > 0) {
        unreadable.push({ file, problem: `expected valid YAML: ${doc.errors[0]?.message.split("\n")[0]}` });
        continue;
      }
      const raw: unknown = doc.toJS();
      if (raw === null || raw === undefined) continue;
      parsed.push({ file, raw });
    }
  }
  if (parsed.length === 0 && unreadable.length === 0) unreadable.push({ file: ".", problem: `expected rendered manifests under ${folders.join(", ")}, found none` });

  const violations = checkPosture(
    parsed.map((p) => p.raw),
    expect,
  );
  const claimed = new Set<Violation>();
  const manifests = parsed.map(({ file, raw }): ManifestReport => {
    const kind = textAt(raw, "kind");
    const name = textAt(raw, "metadata", "name");
    const own = violations.filter((v) => v.kind === kind && v.name === name);
    for (const v of own) claimed.add(v);
    return { file, apiVersion: textAt(raw, "apiVersion"), kind, name, raw, schemaProblems: validateManifestSchema(raw), violations: own };
  });
  const unattributed = violations.filter((v) => !claimed.has(v));
  const ok = unreadable.length === 0 && unattributed.length === 0 && manifests.every((m) => m.schemaProblems.length === 0 && m.violations.length === 0);
  return { manifests, unattributed, unreadable, ok };
}
