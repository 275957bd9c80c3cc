import { createRequire } from "node:module";
import { trackFieldReads } from "./fieldTracker";

/**
 * Offline validation of manifests against the Kubernetes OpenAPI schemas, as compiled into the
 * pinned `kubernetes-models` npm package (one validator per apiVersion/kind, no network), plus
 * strict field checking (unknown fields are errors, as with `kubectl apply --validate=strict`).
 */

export const schemaSource = "kubernetes-models 4.5.1 (Kubernetes OpenAPI)";

export interface SchemaProblem {
  /** Dotted path inside the manifest (`spec.replicas`), or "" for the whole object. */
  readonly path: string;
  readonly message: string;
}

/** One ajv error as the compiled validators report it (no message text: we write our own). */
interface AjvError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Readonly<Record<string, unknown>>;
}

type ModelValidate = (this: unknown) => void;

const requireModel = createRequire(__filename);
const validators = new Map<string, ModelValidate | undefined>();

/**
 * The model's `validate` method for an apiVersion/kind, or undefined when kubernetes-models has none.
 * Module ids are built from the manifest, so both parts are checked against the shapes Kubernetes
 * allows before they reach `require`.
 */
function validatorFor(apiVersion: string, kind: string): ModelValidate | undefined {
  if (!/^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) return undefined;
  const id = `kubernetes-models/${apiVersion}/${kind}`;
  if (!validators.has(id)) {
    let validate: ModelValidate | undefined;
    try {
      const exported: unknown = (requireModel(id) as Record<string, unknown>)[kind];
      const prototype: unknown = typeof exported === "function" ? exported.prototype : undefined;
      const method: unknown = typeof prototype === "object" && prototype !== null ? Reflect.get(prototype, "validate") : undefined;
      validate = typeof method === "function" ? (method as ModelValidate) : undefined;
    } catch {
      validate = undefined;
    }
    validators.set(id, validate);
  }
  return validators.get(id);
}

const dotted = (instancePath: string) => instancePath.replace(/^\//, "").replaceAll("/", ".");

function describe(error: AjvError): SchemaProblem {
  const p = error.params;
  const path = dotted(error.instancePath);
  switch (error.keyword) {
    case "required":
      return { path: path ? `${path}.${String(p.missingProperty)}` : String(p.missingProperty), message: "required field is missing" };
    case "type":
      return { path, message: `must be ${String(p.type)}` };
    case "enum":
      return { path, message: `must be one of ${JSON.stringify(p.allowedValues)}` };
    case "format":
      return { path, message: `must be a valid ${String(p.format)}` };
    default:
      return { path, message: `fails '${error.keyword}' ${JSON.stringify(p)}` };
  }
}

function ajvErrors(err: unknown): AjvError[] {
  const errors: unknown = typeof err === "object" && err !== null ? Reflect.get(err, "errors") : undefined;
  if (!Array.isArray(errors)) throw err;
  return errors.filter((e): e is AjvError => typeof e === "object" && e !== null && typeof Reflect.get(e, "instancePath") === "string");
}

/** Every schema problem of one manifest object; [] when it is valid. */
export function validateManifestSchema(manifest: unknown): SchemaProblem[] {
  const fields = typeof manifest === "object" && manifest !== null ? (manifest as Record<string, unknown>) : undefined;
  const apiVersion = typeof fields?.apiVersion === "string" ? fields.apiVersion : "";
  const kind = typeof fields?.kind === "string" ? fields.kind : "";
  if (!apiVersion || !kind) return [{ path: "", message: "expected apiVersion and kind" }];
  const validate = validatorFor(apiVersion, kind);
  if (!validate) return [{ path: "apiVersion", message: `no schema for ${apiVersion} ${kind} in ${schemaSource}: expected a built-in Kubernetes apiVersion/kind` }];

  const tracker = trackFieldReads(manifest);
  const problems: SchemaProblem[] = [];
  try {
    validate.call(tracker.tracked);
  } catch (err) {
    problems.push(...ajvErrors(err).map(describe));
  }
  problems.push(...tracker.unknownFields().map((path) => ({ path, message: "unknown field (not in the schema)" })));
  // anyOf branches (int-or-string) can report the same problem twice.
  const unique = new Map(problems.map((p) => [`${p.path}\u0000${p.message}`, p]));
  return [...unique.values()];
}

export const formatSchemaProblem = (p: SchemaProblem) => (p.path ? `${p.path}: ${p.message}` : p.message);
