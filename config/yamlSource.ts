import * as fs from "node:fs";
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLError } from "yaml";
import { ConfigError, keyPath } from "./errors";

/** A YAML file read for validation: its plain value plus a way to find the line of any data path in it. */
export interface YamlSource {
  readonly value: unknown;
  /** 1-based line of the deepest existing node on `path` (a missing key points at its parent). */
  readonly locate: (path: readonly PropertyKey[]) => number | undefined;
}

/** Reads `file`; `shown` is the name used in messages. Throws ConfigError for a missing file or bad YAML. */
export function readYamlSource(file: string, shown: string): YamlSource {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConfigError([{ file: shown, key: "(file)", message: "expected the file to exist and be readable" }]);
  }
  return parseYamlSource(text, shown);
}

export function parseYamlSource(text: string, shown: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => {
        const duplicate = err.code === "DUPLICATE_KEY" ? findDuplicateKey(doc, err) : undefined;
        if (duplicate) {
          const { path, key, first } = duplicate;
          const earlier = lineOf(first);
          return {
            file: shown,
            key: keyPath(path),
            message: `expected each key once in a mapping: '${key}' is already set${earlier === undefined ? "" : ` on line ${earlier}`}`,
            line: err.linePos?.[0].line,
          };
        }
        return {
          file: shown,
          key: "(file)",
          message: `expected valid YAML: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`,
          line: err.linePos?.[0].line,
        };
      }),
    );
  }
  const locate = (path: readonly PropertyKey[]): number | undefined => {
    let node: unknown = doc.contents;
    let line = lineOf(doc.contents);
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
        if (pair === undefined) break;
        line = lineOf(pair.key as Node) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === "number") {
        const item = node.items[segment];
        if (item === undefined) break;
        line = lineOf(item as Node) ?? line;
        node = item;
      } else {
        break;
      }
    }
    return line;
  };
  return { value: doc.toJS(), locate };
}

/**
 * The repeated key a DUPLICATE_KEY error points at: its path from the document root, its name and the
 * earlier key it repeats. The yaml library's message (`Map keys must be unique`) names neither.
 */
function findDuplicateKey(doc: Document, err: YAMLError): { path: PropertyKey[]; key: string; first: Node } | undefined {
  const at = err.pos[0];
  const search = (node: unknown, path: PropertyKey[]): { path: PropertyKey[]; key: string; first: Node } | undefined => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyNode = pair.key as Node | null;
        if (keyNode?.range && keyNode.range[0] <= at && at < keyNode.range[1]) {
          const first = node.items.find((other) => other !== pair && isScalar(other.key) && String(other.key.value) === key)?.key as Node | undefined;
          if (first) return { path: [...path, key], key, first };
        }
        const found = search(pair.value, [...path, key]);
        if (found) return found;
      }
    } else if (isSeq(node)) {
      for (const [index, item] of node.items.entries()) {
        const found = search(item, [...path, index]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return search(doc.contents, []);
}
