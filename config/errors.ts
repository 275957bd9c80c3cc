import type { z } from "zod";

/** One problem in a user's file: where it is and what was expected there. */
export interface ConfigProblem {
  readonly file: string;
  /** Key path as the user writes it, e.g. `mlops:training.cvFolds`. */
  readonly key: string;
  readonly message: string;
}

/** Thrown for user mistakes in config files; entry points print `problems` and exit non-zero, never a stack trace. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.key}: ${p.message}`;
}

/** Renders a zod issue path the way the user wrote the key (`mlops:` prefix for stack files). */
export function keyPath(path: readonly PropertyKey[], namespace?: string): string {
  const [head, ...rest] = path.map(String);
  if (head === undefined) return namespace ? `${namespace}:` : "(top level)";
  const first = namespace ? `${namespace}:${head}` : head;
  return rest.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : `${acc}.${part}`), first);
}

function describeReceived(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === "unrecognized_keys") return "";
  if (!("input" in issue) || issue.input === undefined) return input === undefined ? ", got nothing" : "";
  return `, got ${JSON.stringify(issue.input)}`;
}

export function problemsFromZod(error: z.ZodError, file: string, namespace?: string): ConfigProblem[] {
  return error.issues.map((issue) => {
    const message =
      issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}: check the spelling against the README's configuration reference` : `${issue.message}${describeReceived(issue, undefined)}`;
    return { file, key: keyPath(issue.path, namespace), message };
  });
}
