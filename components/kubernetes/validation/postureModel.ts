/**
 * A read-only view over rendered manifests (plain objects as parsed from YAML). Posture rules never
 * trust the shape: every accessor copes with missing or mistyped fields.
 */

export type Fields = Readonly<Record<string, unknown>>;

export function asFields(value: unknown): Fields | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

/** The value at a dotted path (`spec.template.spec`), or undefined. */
export function get(value: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((node, key) => (Array.isArray(node) ? node[Number(key)] : asFields(node)?.[key]), value);
}

export function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function stringMap(value: unknown): Readonly<Record<string, string>> {
  const fields = asFields(value) ?? {};
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => typeof e[1] === "string"));
}

export interface KubeObject {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly raw: Fields;
}

export function toKubeObject(raw: unknown): KubeObject | undefined {
  const fields = asFields(raw);
  const kind = text(fields?.kind);
  if (!fields || !kind) return undefined;
  return {
    kind,
    name: text(get(fields, "metadata.name")) ?? "(unnamed)",
    namespace: text(get(fields, "metadata.namespace")) ?? "default",
    labels: stringMap(get(fields, "metadata.labels")),
    raw: fields,
  };
}

export const longRunningKinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"] as const;
const podTemplatePaths: Readonly<Record<string, string>> = {
  Deployment: "spec.template",
  StatefulSet: "spec.template",
  DaemonSet: "spec.template",
  ReplicaSet: "spec.template",
  Job: "spec.template",
  CronJob: "spec.jobTemplate.spec.template",
};

export function isLongRunning(obj: KubeObject): boolean {
  return (longRunningKinds as readonly string[]).includes(obj.kind);
}

/** `{ metadata, spec }` of the pods a workload runs; a bare Pod is its own template. */
export function podTemplate(obj: KubeObject): Fields | undefined {
  if (obj.kind === "Pod") return obj.raw;
  const path = podTemplatePaths[obj.kind];
  return path ? asFields(get(obj.raw, path)) : undefined;
}

export function podLabels(obj: KubeObject): Readonly<Record<string, string>> {
  return stringMap(get(podTemplate(obj), "metadata.labels"));
}

export const componentLabel = "app.kubernetes.io/component";

/** The workload's role: its component label, on the object or its pods. */
export function roleOf(obj: KubeObject): string | undefined {
  return obj.labels[componentLabel] ?? podLabels(obj)[componentLabel];
}

export interface ContainerView {
  readonly name: string;
  readonly init: boolean;
  readonly fields: Fields;
}

export function containersOf(obj: KubeObject): ContainerView[] {
  const spec = get(podTemplate(obj), "spec");
  const view = (init: boolean) => (c: unknown) => ({ name: text(get(c, "name")) ?? "(unnamed)", init, fields: asFields(c) ?? {} });
  return [...list(get(spec, "initContainers")).map(view(true)), ...list(get(spec, "containers")).map(view(false))];
}

/** Kubernetes label-selector semantics: every matchLabels pair and every matchExpression must hold. */
export function selectorMatches(selector: unknown, labels: Readonly<Record<string, string>>): boolean {
  const matchLabels = stringMap(get(selector, "matchLabels"));
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  return list(get(selector, "matchExpressions")).every((expr) => {
    const key = text(get(expr, "key")) ?? "";
    const values = list(get(expr, "values")).filter((v): v is string => typeof v === "string");
    const has = Object.hasOwn(labels, key);
    switch (text(get(expr, "operator"))) {
      case "In":
        return has && values.includes(labels[key] ?? "");
      case "NotIn":
        return !has || !values.includes(labels[key] ?? "");
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
      default:
        return false;
    }
  });
}

/** A Service's `spec.selector` is a bare label map, not a LabelSelector. */
export function serviceSelects(service: KubeObject, workload: KubeObject): boolean {
  const selector = stringMap(get(service.raw, "spec.selector"));
  return Object.keys(selector).length > 0 && service.namespace === workload.namespace && selectorMatches({ matchLabels: selector }, podLabels(workload));
}
