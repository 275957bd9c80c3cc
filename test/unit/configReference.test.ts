import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { metricsConfigSchema, secretKeys, stackConfigSchema } from "../../config";
import { referenceDoc, unusedDescriptions, updatedDoc } from "../../config/reference";
import { unwrap } from "../../config/schemaWalk";

/**
 * Independent of the generator: every key path the schemas accept, found by walking them here, must
 * appear in docs/configuration.md. `<...>` stands for a user-chosen key, `[]` for a list item.
 */
function keyPaths(schema: z.core.$ZodType, prefix: string, join: (p: string, k: string) => string): string[] {
  const s = unwrap(schema).schema;
  if (s instanceof z.ZodObject) return Object.entries(s.shape).flatMap(([k, child]) => [join(prefix, k), ...keyPaths(child, join(prefix, k), join)]);
  if (s instanceof z.ZodUnion) return s.options.flatMap((o) => keyPaths(o, prefix, join));
  if (s instanceof z.ZodRecord) return [join(prefix, "<NAME>"), ...keyPaths(s.valueType, join(prefix, "<NAME>"), join)];
  if (s instanceof z.ZodArray) return keyPaths(s.element, `${prefix}[]`, join);
  return [];
}

const dot = (p: string, k: string) => (p === "" ? k : p.endsWith(":") ? `${p}${k}` : `${p}.${k}`);
const doc = fs.readFileSync(referenceDoc, "utf8");
const documentedKeys = new Set([...doc.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1].replace(/<\w+>/g, "<NAME>")));

describe("docs/configuration.md", () => {
  it("is what the generator writes from the schemas now (run `npx tsx config/reference.ts --write` after a schema change)", () => {
    expect(doc).toBe(updatedDoc(doc));
  });

  it.each([
    ["stack", [...keyPaths(stackConfigSchema, "mlops:", dot), ...secretKeys.map((k) => `mlops:${k}`)]],
    ["metrics", keyPaths(metricsConfigSchema, "", dot)],
  ])("documents every %s config key path", (_name, paths) => {
    expect(paths.length).toBeGreaterThan(20);
    const missing = [...new Set(paths)].filter((p) => !documentedKeys.has(p));
    expect(missing).toEqual([]);
  });

  it("has no description left over for a key the schemas no longer accept", () => {
    expect(unusedDescriptions()).toEqual([]);
  });
});
