/**
 * Finds fields a schema does not know. The OpenAPI validators of kubernetes-models accept unknown
 * fields (the Kubernetes schemas leave `additionalProperties` open), but the API server rejects them
 * under strict field validation, and a typo such as `resource:` for `resources:` would otherwise pass.
 *
 * A compiled validator reads every property its schema declares (`data.replicas`, ...) and iterates
 * the keys of free-form maps (labels, data). Running it over proxies that record those reads tells,
 * for each object the validator looked into, which of its own keys the schema never mentioned.
 * Objects the validator never looked into (free-form values) are not judged.
 */

interface Visit {
  readonly path: string;
  readonly read: Set<string>;
  /** The validator enumerated the keys (a map): every key is known. */
  enumerated: boolean;
}

export interface FieldTracker {
  /** The value to hand to the validator instead of the original. */
  readonly tracked: unknown;
  /** Dotted paths of fields no validator read, in document order. */
  unknownFields(): string[];
}

const isContainer = (value: unknown): value is object => typeof value === "object" && value !== null;

export function trackFieldReads(document: unknown): FieldTracker {
  const visits = new Map<object, Visit>();
  const proxies = new WeakMap<object, object>();

  const wrap = (value: unknown, path: string): unknown => {
    if (!isContainer(value)) return value;
    const existing = proxies.get(value);
    if (existing) return existing;
    const visit: Visit = { path, read: new Set(), enumerated: false };
    visits.set(value, visit);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const child: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== "string") return child;
        visit.read.add(key);
        return wrap(child, path ? `${path}.${key}` : key);
      },
      ownKeys(target) {
        visit.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };

  const tracked = wrap(document, "");
  return {
    tracked,
    unknownFields: () => {
      const unknown: string[] = [];
      for (const [object, visit] of visits) {
        if (Array.isArray(object) || visit.enumerated || visit.read.size === 0) continue;
        for (const key of Object.keys(object)) {
          if (!visit.read.has(key)) unknown.push(visit.path ? `${visit.path}.${key}` : key);
        }
      }
      return unknown;
    },
  };
}
