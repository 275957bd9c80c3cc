import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/**
 * The import graph of the layered source folders, read with the TypeScript parser (not a regex, so
 * comments and strings that look like imports are not edges). Used by test/unit/importGraph.test.ts.
 */

/** Lowest first: a file may import its own layer or a lower one, never a higher one. */
export const layers = ["config", "components", "programs", "driver"] as const;
export type Layer = (typeof layers)[number];

export interface ImportEdge {
  /** Both paths relative to the project root, with `/`. */
  readonly from: string;
  readonly to: string;
  readonly line: number;
  /** `import type`, `export type`, `typeof import(...)`: erased at run time but still a dependency. */
  readonly typeOnly: boolean;
}

export interface ComputedRequire {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface ImportGraph {
  readonly files: readonly string[];
  readonly edges: readonly ImportEdge[];
  readonly computed: readonly ComputedRequire[];
  /** Relative specifiers that resolve to no file: a typo, or a file moved without its importers. */
  readonly unresolved: readonly ImportEdge[];
}

export function layerOf(file: string): Layer | undefined {
  return layers.find((layer) => file === layer || file.startsWith(`${layer}/`));
}

function listTs(root: string, dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : listTs(root, rel);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [rel] : [];
  });
}

/** `./x` from `a/b.ts` -> `a/x.ts` or `a/x/index.ts`; undefined when neither exists. */
function resolveRelative(root: string, from: string, specifier: string): string | undefined {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  const candidates = [base, `${base}.ts`, `${base}/index.ts`, base.replace(/\.js$/, ".ts")];
  return candidates.find((c) => c.endsWith(".ts") && fs.existsSync(path.join(root, c)));
}

function isRequireCall(node: ts.Node): node is ts.CallExpression {
  return ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require";
}

function isDynamicImport(node: ts.Node): node is ts.CallExpression {
  return ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword;
}

interface Specifier {
  readonly text: string;
  readonly line: number;
  readonly typeOnly: boolean;
}

/** Every module a file names: static imports, re-exports, `require("x")`, `import("x")`, `typeof import("x")`. */
export function specifiersOf(file: string, source: string): { specifiers: Specifier[]; computed: ComputedRequire[] } {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const specifiers: Specifier[] = [];
  const computed: ComputedRequire[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const add = (literal: ts.Expression | undefined, node: ts.Node, typeOnly: boolean) => {
    if (literal && ts.isStringLiteralLike(literal)) specifiers.push({ text: literal.text, line: lineOf(node), typeOnly });
    else computed.push({ file, line: lineOf(node), text: node.getText(sf).slice(0, 120) });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, node, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node.moduleSpecifier, node, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node, node.isTypeOnly);
    } else if (isRequireCall(node) || isDynamicImport(node)) {
      add(node.arguments[0], node, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, node, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { specifiers, computed };
}

/** The graph of every .ts file under the layer folders (tests beside the code included). */
export function readImportGraph(root: string): ImportGraph {
  const files = layers.flatMap((layer) => listTs(root, layer)).sort();
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  const computed: ComputedRequire[] = [];
  for (const file of files) {
    const found = specifiersOf(file, fs.readFileSync(path.join(root, file), "utf8"));
    computed.push(...found.computed);
    for (const spec of found.specifiers) {
      if (!spec.text.startsWith(".")) continue; // packages and node: built-ins are not ours to layer
      const to = resolveRelative(root, file, spec.text);
      const edge = { from: file, to: to ?? spec.text, line: spec.line, typeOnly: spec.typeOnly };
      (to ? edges : unresolved).push(edge);
    }
  }
  return { files, edges, computed, unresolved };
}

/** Imports from a lower layer into a higher one, or out of the layered folders (e.g. into test/). */
export function upwardEdges(graph: ImportGraph): ImportEdge[] {
  return graph.edges.filter((e) => {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === undefined) return false;
    if (to === undefined) return true;
    return layers.indexOf(to) > layers.indexOf(from);
  });
}

/** Each circle once, as the list of files along it (first file repeated at the end). */
export function findCycles(graph: ImportGraph): string[][] {
  const next = new Map<string, string[]>();
  for (const e of graph.edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  // Tarjan's strongly connected components: a component of two or more files (or a self-import) holds a circle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const strongConnect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const file of graph.files) if (!index.has(file)) strongConnect(file);
  // Show one concrete circle per component: a shortest path back to its first file.
  return components.map((component) => shortestCircle(component.sort()[0] as string, new Set(component), next));
}

function shortestCircle(start: string, within: Set<string>, next: Map<string, string[]>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of next.get(v) ?? []) {
      if (!within.has(w)) continue;
      if (w === start) {
        const circle = [start];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = previous.get(at)) circle.splice(1, 0, at);
        return [...circle, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
