import * as fs from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError } from "./errors";

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
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => ({
        file: shown,
        key: "(file)",
        message: `expected valid YAML: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`,
        line: err.linePos?.[0].line,
      })),
    );
  }
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);
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
