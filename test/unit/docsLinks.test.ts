import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The documentation cannot dangle: every relative link in README.md, docs/*.md and the component READMEs
 * points at a file that exists (and, with `#anchor`, at a heading of it), every repository path the docs
 * name in code exists, the README stays short, and every test named in docs/testing.md's claim table
 * exists under that name.
 */

const repo = path.resolve(__dirname, "..", "..");
const maxReadmeLines = 260;

function readmesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "node_modules" && !entry.name.startsWith(".")) found.push(...readmesUnder(full));
    else if (entry.isFile() && entry.name === "README.md") found.push(full);
  }
  return found;
}

const docsDir = path.join(repo, "docs");
const markdownFiles = [
  path.join(repo, "README.md"),
  ...fs
    .readdirSync(docsDir)
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join(docsDir, f)),
  ...["components", "images", "scripts"].flatMap((d) => readmesUnder(path.join(repo, d))),
];

/** The text outside fenced code blocks, where a `](...)` is a link. Inline code spans are blanked too. */
export function proseOf(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "``");
}

/** Link targets of inline links `[text](target)`; the text may span lines. */
export function linkTargets(markdown: string): string[] {
  return [...proseOf(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

/** GitHub's heading anchor: lower case, punctuation dropped (backticks, parentheses, apostrophes), spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every anchor a file's headings give, with GitHub's -1, -2 suffixes for repeated headings. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of markdown.replace(/^```[\s\S]*?^```/gm, "").matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const rel = (file: string) => path.relative(repo, file);

describe("the link reader itself (so a passing link check means something)", () => {
  it("finds links in prose, across line breaks, and none in code", () => {
    const text = "See [a](docs/a.md) and [the\nb](../b.md#x).\n```\n[c](c.md)\n```\nand `[d](d.md)` and <https://e.example>";
    expect(linkTargets(text)).toEqual(["docs/a.md", "../b.md#x"]);
  });

  it("makes GitHub's anchors, repeated headings numbered", () => {
    expect(slug("Serving (`make bench-serve`)")).toBe("serving-make-bench-serve");
    expect(slug("The model server's input contract")).toBe("the-model-servers-input-contract");
    expect([...anchorsOf("# A\n## Notes\n### Notes\n```\n# not a heading\n```")]).toEqual(["a", "notes", "notes-1"]);
  });
});

describe("README.md and docs/", () => {
  it(`README.md stays at most ${maxReadmeLines} lines (details go to docs/)`, () => {
    const lines = fs.readFileSync(path.join(repo, "README.md"), "utf8").split("\n").length;
    expect(lines).toBeLessThanOrEqual(maxReadmeLines);
  });

  it("reads the README, every docs page and the component READMEs", () => {
    const names = markdownFiles.map(rel);
    expect(names).toEqual(expect.arrayContaining(["README.md", "docs/configuration.md", "docs/testing.md", "images/serving/README.md"]));
  });

  it("every relative link points at an existing file, and every #anchor at a heading of it", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of markdownFiles) {
      const text = fs.readFileSync(file, "utf8");
      for (const target of linkTargets(text)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        checked++;
        const [filePart, anchor] = target.split("#", 2);
        const resolved = filePart === "" ? file : path.resolve(path.dirname(file), decodeURIComponent(filePart));
        if (!fs.existsSync(resolved)) {
          broken.push(`${rel(file)}: ${target}: no such file`);
        } else if (anchor !== undefined && !anchorsOf(fs.readFileSync(resolved, "utf8")).has(anchor)) {
          broken.push(`${rel(file)}: ${target}: no heading with that anchor in ${rel(resolved)}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(broken).toEqual([]);
  });

  it("every repository path named in code (`components/...`, `test/...`, ...) exists", () => {
    const missing: string[] = [];
    for (const file of [path.join(repo, "README.md"), ...markdownFiles.filter((f) => rel(f).startsWith("docs/"))]) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(/`((?:config|components|programs|driver|images|scripts|test|bench|python|docs)\/[\w./-]+)`/g)) {
        if (!fs.existsSync(path.join(repo, m[1]))) missing.push(`${rel(file)}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("docs/testing.md: claims and the tests that prove them", () => {
  const doc = fs.readFileSync(path.join(docsDir, "testing.md"), "utf8");
  const table = doc.slice(doc.indexOf("## Claims and the tests that prove them"));
  const rows = table.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| claim") && !line.startsWith("| ---"));

  /** `file`: "title", "title"; `file`: `test_function` ... in a row's test cell. */
  function citations(cell: string): { file: string; names: string[] }[] {
    return [...cell.matchAll(/`((?:test|images)\/[^`]+?\.(?:ts|py))`: (.*?)(?=; `(?:test|images)\/|$)/g)].map((m) => ({
      file: m[1],
      names: [...[...m[2].matchAll(/"([^"]+)"/g)].map((t) => t[1].replace(/\s*\.\.\.$/, "")), ...[...m[2].matchAll(/`(test_\w+)`/g)].map((t) => `def ${t[1]}(`)],
    }));
  }

  it("has a row for every claim, each naming a test or saying it is not proven yet", () => {
    expect(rows.length).toBeGreaterThan(40);
    const empty = rows.filter((row) => {
      const cell = row.split(" | ")[1] ?? "";
      return citations(cell).length === 0 && !/not proven yet|not asserted/.test(cell);
    });
    expect(empty).toEqual([]);
  });

  it("names only test files and titles that exist (update the table when a test is renamed)", () => {
    const missing: string[] = [];
    for (const row of rows) {
      for (const { file, names } of citations(row.split(" | ")[1] ?? "")) {
        const full = path.join(repo, file);
        if (!fs.existsSync(full)) {
          missing.push(`${file}: no such file`);
          continue;
        }
        const source = fs.readFileSync(full, "utf8");
        for (const name of names) if (!source.includes(name)) missing.push(`${file}: no test "${name}"`);
      }
    }
    expect(missing).toEqual([]);
  });
});
