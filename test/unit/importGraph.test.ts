import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { findCycles, type ImportGraph, layerOf, layers, readImportGraph, specifiersOf, upwardEdges } from "../support/importGraph";

/**
 * The layers are config -> components -> programs -> driver: a file imports its own layer or a
 * lower one, never a higher one, and no files import each other in a circle. Type-only imports
 * count too: they are how a lower layer starts to depend on a higher one's shapes.
 */

const root = path.resolve(__dirname, "../..");
const graph = readImportGraph(root);
const kind = (typeOnly: boolean) => (typeOnly ? " (type-only)" : "");

describe("import graph of config/, components/, programs/, driver/", () => {
  it("reads a graph big enough to mean something", () => {
    for (const layer of layers) expect(graph.files.filter((f) => layerOf(f) === layer).length, `.ts files under ${layer}/`).toBeGreaterThan(3);
    expect(graph.edges.length).toBeGreaterThan(100);
  });

  it("has no computed require() or import(): every dependency is visible to this test and to tsc", () => {
    const lines = graph.computed.map((c) => `${c.file}:${c.line}: ${c.text}`);
    expect(lines, `computed module loads (use a string literal, or move the code to a layer both sides can import):\n${lines.join("\n")}`).toEqual([]);
  });

  it("has no relative import that resolves to no file", () => {
    const lines = graph.unresolved.map((e) => `${e.from}:${e.line}: ${e.to}`);
    expect(lines, lines.join("\n")).toEqual([]);
  });

  it("has no upward import (config -> components -> programs -> driver)", () => {
    const lines = upwardEdges(graph).map(
      (e) => `${e.from}:${e.line} -> ${e.to}${kind(e.typeOnly)}: layer ${layerOf(e.from)} imports ${layerOf(e.to) ?? "a file outside the layers"}`,
    );
    expect(lines, `upward imports; move the shared code down to the lower layer:\n${lines.join("\n")}`).toEqual([]);
  });

  it("programs reach platform components only through programs/platforms.ts (the rest relies on components/interfaces.ts)", () => {
    const platformModule = /^components\/(local|docker|kubernetes)\//;
    // The on-disk layout of a stack (.pipeline/...) is shared by every platform's context, not a platform choice.
    const shared = new Set(["components/local/paths.ts"]);
    const lines = graph.edges
      .filter((e) => e.from.startsWith("programs/") && e.from !== "programs/platforms.ts" && platformModule.test(e.to) && !shared.has(e.to))
      .map((e) => `${e.from}:${e.line} -> ${e.to}${kind(e.typeOnly)}`);
    expect(lines, `programs that depend on one platform's components; add an output to the interface instead:\n${lines.join("\n")}`).toEqual([]);
  });

  it("has no import circles", () => {
    const lines = findCycles(graph).map((cycle) => cycle.join(" -> "));
    expect(lines, `import circles; move what both files need into a third file they both import:\n${lines.join("\n")}`).toEqual([]);
  });
});

describe("the import reader itself (so a passing graph test means something)", () => {
  const fake = (edges: [string, string][]): ImportGraph => ({
    files: [...new Set(edges.flat())].sort(),
    edges: edges.map(([from, to]) => ({ from, to, line: 1, typeOnly: false })),
    computed: [],
    unresolved: [],
  });

  it("finds static, re-export, require, dynamic import and typeof import specifiers, and flags computed ones", () => {
    const source = [
      'import { a } from "./a";',
      'import type { B } from "../b";',
      'export * from "./c";',
      'const d = require("./d");',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: this is source text for the parser, not a template
      "const e = require(`${dir}/e.ts`);",
      'type F = typeof import("./f");',
      'const g = await import("./g");',
      '// import { h } from "./h";',
      'const text = "import { i } from \\"./i\\"";',
    ].join("\n");
    const { specifiers, computed } = specifiersOf("x.ts", source);
    expect(specifiers.map((s) => [s.text, s.typeOnly])).toEqual([
      ["./a", false],
      ["../b", true],
      ["./c", false],
      ["./d", false],
      ["./f", true],
      ["./g", false],
    ]);
    expect(computed.map((c) => c.line)).toEqual([5]);
  });

  it("reports an upward edge with both layers and ignores downward ones", () => {
    const up = upwardEdges(
      fake([
        ["config/a.ts", "components/b.ts"],
        ["driver/c.ts", "config/a.ts"],
        ["components/d.ts", "test/support/e.ts"],
      ]),
    );
    expect(up.map((e) => `${e.from}->${e.to}`)).toEqual(["config/a.ts->components/b.ts", "components/d.ts->test/support/e.ts"]);
  });

  it("reports a circle as the files along it", () => {
    const cycles = findCycles(
      fake([
        ["config/a.ts", "config/b.ts"],
        ["config/b.ts", "config/c.ts"],
        ["config/c.ts", "config/a.ts"],
        ["config/c.ts", "config/d.ts"],
      ]),
    );
    expect(cycles).toEqual([["config/a.ts", "config/b.ts", "config/c.ts", "config/a.ts"]]);
    expect(findCycles(fake([["config/a.ts", "config/b.ts"]]))).toEqual([]);
  });
});
