/** One problem in a user's file: where it is and what was expected there. */
export interface ConfigProblem {
  readonly file: string;
  /** Key path as the user writes it, e.g. `mlops:training.cvFolds`. */
  readonly key: string;
  readonly message: string;
  /** 1-based line in `file` when the problem comes from a YAML file we read. */
  readonly line?: number;
}

/** Thrown for user mistakes in config files; entry points print `problems` and exit non-zero, never a stack trace. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}

/** `Pulumi.prod.yaml:14: mlops:training.cvFolds: expected an integer >= 2, got 1` (line only when known). */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return `${where}: ${p.key}: ${p.message}`;
}

/** Renders a data path the way the user wrote the key (`mlops:` prefix for stack files, `[i]` for list items). */
export function keyPath(path: readonly PropertyKey[], namespace?: string): string {
  const [head, ...rest] = path.map(String);
  if (head === undefined) return namespace ? `${namespace}:` : "(top level)";
  const first = namespace ? `${namespace}:${head}` : head;
  return rest.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : `${acc}.${part}`), first);
}

/** One file's problems in line order; problems without a line keep their order, after the located ones. */
export function sortByLine(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const unknown = Number.MAX_SAFE_INTEGER;
  return problems
    .map((p, order) => ({ p, order }))
    .sort((a, b) => (a.p.line ?? unknown) - (b.p.line ?? unknown) || a.order - b.order)
    .map(({ p }) => p);
}
