import { z } from "zod";

/**
 * Reads the zod schemas as data: which keys exist where, what type and default each has. Error
 * messages ("did you mean ...", "expected one of these forms") and the configuration reference are
 * both derived from here, so neither can drift from the schemas.
 */

type Schema = z.core.$ZodType;

export interface Unwrapped {
  readonly schema: Schema;
  /** The key may be left out (optional or defaulted). */
  readonly optional: boolean;
  readonly hasDefault: boolean;
  readonly defaultValue?: unknown;
}

/** Strips default/optional/nullable/prefault wrappers, remembering what they said. */
export function unwrap(schema: Schema): Unwrapped {
  let current: Schema = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      if (!hasDefault) defaultValue = current.def.defaultValue;
      hasDefault = true;
      optional = true;
      current = current.unwrap();
    } else if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      optional = true;
      current = current.unwrap();
    } else if (current instanceof z.ZodPipe) {
      current = current.in;
    } else {
      return { schema: current, optional, hasDefault, defaultValue };
    }
  }
}

/** The alternatives of a union; a discriminated union is narrowed to the variant `input` names when it names one. */
export function alternatives(schema: Schema, input?: unknown): readonly Schema[] {
  const inner = unwrap(schema).schema;
  if (!(inner instanceof z.ZodUnion)) return [inner];
  const options = inner.options.flatMap((o) => alternatives(o));
  if (inner instanceof z.ZodDiscriminatedUnion && isRecord(input)) {
    const tag = input[inner.def.discriminator];
    const matching = options.filter((o) => literalValues(o, inner.def.discriminator).includes(tag));
    if (matching.length > 0) return matching;
  }
  return options;
}

/** Values of the literal/enum field `key` of an object schema (the discriminator of a variant). */
export function literalValues(schema: Schema, key: string): readonly unknown[] {
  const inner = unwrap(schema).schema;
  if (!(inner instanceof z.ZodObject)) return [];
  const field = inner.shape[key];
  if (field === undefined) return [];
  const fieldInner = unwrap(field).schema;
  if (fieldInner instanceof z.ZodLiteral) return [...fieldInner.values];
  if (fieldInner instanceof z.ZodEnum) return fieldInner.options;
  return [];
}

/** The schemas that describe the value at `path` below `root` (several when a union is crossed). */
export function schemasAt(root: Schema, path: readonly PropertyKey[], inputAtPath?: unknown): readonly Schema[] {
  let current: readonly Schema[] = [root];
  path.forEach((segment, depth) => {
    const last = depth === path.length - 1;
    current = current.flatMap((s) => alternatives(s)).flatMap((s) => childSchemas(s, segment));
    if (last) current = current.flatMap((s) => alternatives(s, inputAtPath));
  });
  return path.length === 0 ? current.flatMap((s) => alternatives(s, inputAtPath)) : current;
}

function childSchemas(schema: Schema, segment: PropertyKey): readonly Schema[] {
  if (schema instanceof z.ZodObject) {
    const field = schema.shape[String(segment)];
    return field === undefined ? [] : [field];
  }
  if (schema instanceof z.ZodRecord) return [schema.valueType];
  if (schema instanceof z.ZodArray) return [schema.element];
  return [];
}

/** Keys an object at `path` accepts (union of all variants that may apply). */
export function keysAt(root: Schema, path: readonly PropertyKey[], inputAtPath?: unknown): readonly string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, path, inputAtPath)) {
    if (s instanceof z.ZodObject) for (const k of Object.keys(s.shape)) keys.add(k);
  }
  return [...keys];
}

export interface NumberBounds {
  readonly integer: boolean;
  readonly min?: { readonly value: number; readonly inclusive: boolean };
  readonly max?: { readonly value: number; readonly inclusive: boolean };
}

/** Integer-ness and bounds of a number schema, with zod's implicit safe-integer bounds left out. */
export function numberBounds(schema: z.ZodNumber): NumberBounds {
  let integer = false;
  let min: NumberBounds["min"];
  let max: NumberBounds["max"];
  for (const check of schema._zod.def.checks ?? []) {
    const def = check._zod.def;
    if (def.check === "number_format") integer = true;
    if (def.check === "greater_than") {
      const d = def as z.core.$ZodCheckGreaterThanDef;
      min = { value: Number(d.value), inclusive: d.inclusive };
    }
    if (def.check === "less_than") {
      const d = def as z.core.$ZodCheckLessThanDef;
      max = { value: Number(d.value), inclusive: d.inclusive };
    }
  }
  return { integer, min, max };
}

function describeNumber(schema: z.ZodNumber): string {
  const { integer, min, max } = numberBounds(schema);
  const noun = integer ? "integer" : "number";
  if (min?.inclusive && max?.inclusive && integer) return `${noun} ${min.value}..${max.value}`;
  const parts = [min && `${min.inclusive ? ">=" : ">"} ${min.value}`, max && `${max.inclusive ? "<=" : "<"} ${max.value}`].filter(Boolean);
  return parts.length === 0 ? noun : `${noun} ${parts.join(" and ")}`;
}

/** A short human description of what a schema accepts, e.g. `integer >= 2`, `one of grid, random`. */
export function describeType(schema: Schema): string {
  const s = unwrap(schema).schema;
  if (s instanceof z.ZodURL) return "URL";
  if (s instanceof z.ZodString) return "string";
  if (s instanceof z.ZodNumber) return describeNumber(s);
  if (s instanceof z.ZodBoolean) return "boolean";
  if (s instanceof z.ZodNull) return "null";
  if (s instanceof z.ZodEnum) return `one of ${s.options.join(", ")}`;
  if (s instanceof z.ZodLiteral) return s.values.size === 1 ? String([...s.values][0]) : `one of ${[...s.values].join(", ")}`;
  if (s instanceof z.ZodArray) return `list of ${describeType(s.element)}`;
  if (s instanceof z.ZodRecord) return `mapping of ${describeType(s.keyType)} to ${describeType(s.valueType)}`;
  if (s instanceof z.ZodObject) return describeObjectForm(s);
  if (s instanceof z.ZodUnion) return s.options.map(describeType).join(" or ");
  return s._zod.def.type;
}

/** An object as the form a user writes, e.g. `{ type: int, low, high, step?, log? }`. */
function describeObjectForm(schema: z.ZodObject): string {
  const fields = Object.entries(schema.shape).map(([key, field]) => {
    const inner = unwrap(field);
    const literal = inner.schema instanceof z.ZodLiteral && inner.schema.values.size === 1 ? `: ${String([...inner.schema.values][0])}` : "";
    return `${key}${inner.optional ? "?" : ""}${literal}`;
  });
  return `{ ${fields.join(", ")} }`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
