import type { z } from "zod";
import { type ConfigProblem, keyPath } from "./errors";
import { describeType, isRecord, keysAt, schemasAt } from "./schemaWalk";
import { nearest } from "./suggest";

/**
 * Turns zod issues into one-line problems that say what was expected and what was found.
 * Messages written in the schemas win; `defaultMessages` covers every issue they leave unsaid.
 */

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

export interface ProblemContext {
  readonly file: string;
  /** Prefix of the user's key names, `mlops` for stack files. */
  readonly namespace?: string;
  /** The schema that was parsed: consulted for valid keys and the forms a union accepts. */
  readonly schema: z.core.$ZodType;
  /** Line of a data path in the user's file, when known. */
  readonly locate?: (path: Path) => number | undefined;
  /** The value that was parsed: refinements report the whole object they check, messages show the value at the path. */
  readonly input?: unknown;
}

const nouns: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  null: "null",
};

/** Per-parse error map: zod's defaults rewritten as "expected ...". */
export const defaultMessages: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${nouns[issue.expected] ?? issue.expected}`;
    case "too_small":
      return sizeMessage(issue.origin, ">", Number(issue.minimum), issue.inclusive ?? true);
    case "too_big":
      return sizeMessage(issue.origin, "<", Number(issue.maximum), issue.inclusive ?? true);
    case "invalid_value":
      return issue.values.length === 1 ? `expected ${show(issue.values[0])}` : `expected one of ${issue.values.map(String).join(", ")}`;
    case "invalid_format":
      if (issue.format === "url") return "expected a URL such as https://s3.example.com";
      if (issue.format === "regex" && issue.pattern) return `expected text matching ${issue.pattern}`;
      return `expected a valid ${issue.format}`;
    case "not_multiple_of":
      return `expected a multiple of ${String(issue.divisor)}`;
    case "invalid_union":
      return issue.discriminator && Array.isArray(issue.options) ? `expected ${issue.discriminator} to be one of ${issue.options.map(String).join(", ")}` : undefined;
    default:
      return undefined;
  }
};

function sizeMessage(origin: string, direction: ">" | "<", bound: number, inclusive: boolean): string {
  const op = `${direction}${inclusive ? "=" : ""}`;
  if (origin === "number" || origin === "bigint") return `expected a number ${op} ${bound}`;
  const unit = origin === "string" ? "character" : "item";
  if (direction === ">" && bound === 1 && inclusive) return origin === "string" ? "expected a non-empty string" : "expected a non-empty list";
  return `expected ${direction === ">" ? "at least" : "at most"} ${bound} ${unit}${bound === 1 ? "" : "s"}`;
}

/** A value as it appears in messages: JSON, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function problemsFromZod(error: z.ZodError, ctx: ProblemContext): ConfigProblem[] {
  return error.issues.flatMap((issue) => problemsForIssue(issue, [], ctx));
}

function problemsForIssue(issue: Issue, prefix: Path, ctx: ProblemContext): ConfigProblem[] {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => problem([...path, key], unknownKeyMessage(key, keysAt(ctx.schema, path, issue.input)), ctx));
    case "invalid_key":
    case "invalid_element":
      return issue.issues.flatMap((inner) => problemsForIssue(inner, path, ctx));
    case "invalid_union":
      return unionProblems(issue, path, ctx);
    case "custom":
      return [problem(path, `${issue.message}${receivedByRefinement(issue, path, ctx)}`, ctx)];
    default:
      return [problem(path, `${issue.message}${received(issue)}`, ctx)];
  }
}

function unknownKeyMessage(key: string, valid: readonly string[]): string {
  const guess = nearest(key, valid);
  if (guess !== undefined) return `unknown key: did you mean '${guess}'?`;
  return valid.length > 0 ? `unknown key: expected one of ${valid.join(", ")}` : "unknown key";
}

function unionProblems(issue: Extract<Issue, { code: "invalid_union" }>, path: Path, ctx: ProblemContext): ConfigProblem[] {
  if (issue.discriminator !== undefined) {
    const tag = isRecord(issue.input) ? issue.input[issue.discriminator] : undefined;
    return [problem(path, `${issue.message}${tag === undefined ? ", but it is missing" : `, got ${show(tag)}`}`, ctx)];
  }
  const branch = closestBranch(issue.errors);
  if (branch !== undefined) return branch.flatMap((inner) => problemsForIssue(inner, path, ctx));
  const forms = schemasAt(ctx.schema, path).map(describeType);
  return [problem(path, `expected one of: ${forms.join(", ")}${received(issue)}`, ctx)];
}

/**
 * The union branch the user evidently meant: the one whose only complaints are about values, not
 * about the shape (wrong type of the whole value, a wrong literal tag, unknown keys). Undefined when
 * every branch disagrees with the shape, so the message lists the accepted forms instead.
 */
function closestBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const scored = branches.map((issues) => ({ issues, shapeMismatches: issues.filter(isShapeMismatch).length }));
  const candidates = scored.filter((b) => b.shapeMismatches === 0).sort((a, b) => a.issues.length - b.issues.length);
  return candidates[0]?.issues;
}

function isShapeMismatch(issue: Issue): boolean {
  if (issue.code === "unrecognized_keys") return true;
  if (issue.code === "invalid_type" && issue.path.length === 0) return true;
  return issue.code === "invalid_value" && issue.path.length === 1 && issue.values.length === 1;
}

function received(issue: Issue): string {
  if (!("input" in issue) || issue.input === undefined) return issue.code === "invalid_type" || issue.code === "invalid_value" ? ", but it is missing" : "";
  return `, got ${show(issue.input)}`;
}

/** A refinement's input is often the whole object it checks; only a plain value at the key itself is worth showing. */
function receivedByRefinement(issue: Issue, path: Path, ctx: ProblemContext): string {
  const isPlain = (v: unknown) => v !== undefined && (typeof v !== "object" || v === null);
  if ("input" in issue && isPlain(issue.input)) return `, got ${show(issue.input)}`;
  const atPath = path.reduce<unknown>((value, segment) => (isRecord(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[segment] : undefined), ctx.input);
  return isPlain(atPath) ? `, got ${show(atPath)}` : "";
}

function problem(path: Path, message: string, ctx: ProblemContext): ConfigProblem {
  const line = ctx.locate?.(path);
  return { file: ctx.file, key: keyPath(path, ctx.namespace), message, ...(line === undefined ? {} : { line }) };
}
