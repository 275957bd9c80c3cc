import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { metricsConfigSchema, secretKeys, stackConfigSchema } from "../../config";
import { generatedBegin, referenceDoc, referenceMarkdown, unusedDescriptions, updatedDoc } from "../../config/reference";
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

/** README.md and docs/*.md: where a copy of the reference would be put. */
function markdownFiles(repo: string): string[] {
  const docs = path.join(repo, "docs");
  return [
    path.join(repo, "README.md"),
    ...fs
      .readdirSync(docs)
      .filter((f) => f.endsWith(".md"))
      .map((f) => path.join(docs, f)),
  ];
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

  it("is the one place the generated tables live: no other Markdown file carries the markers or a copy of a table", () => {
    const repo = path.resolve(__dirname, "..", "..");
    const others = markdownFiles(repo).filter((f) => f !== referenceDoc);
    expect(others.map((f) => path.relative(repo, f))).toContain("README.md");
    const firstRow = referenceMarkdown()
      .split("\n")
      .find((line) => line.startsWith("| `mlops:platform`"));
    expect(firstRow).toBeDefined();
    const copies = others.filter((f) => {
      const text = fs.readFileSync(f, "utf8");
      return text.includes(generatedBegin) || (firstRow !== undefined && text.includes(firstRow));
    });
    expect(copies.map((f) => path.relative(repo, f))).toEqual([]);
  });

  it("has no description left over for a key the schemas no longer accept", () => {
    expect(unusedDescriptions()).toEqual([]);
  });
});
