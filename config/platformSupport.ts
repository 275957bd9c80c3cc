/**
 * Which tracking database and artifact store each platform can run: the one table the config schema's
 * cross-check, its platform defaults and the three tracking servers read. It lives in config (the
 * bottom of the import graph) so the schema can use it without importing components.
 */

export const platforms = ["local", "docker", "kubernetes"] as const;
export type Platform = (typeof platforms)[number];

export type DatabaseKind = "sqlite" | "inStack" | "external";
export type ObjectStoreKind = "localFolder" | "inStack" | "s3";

/** The first kind of each list is the platform's default when the stack file names none. */
export const platformSupport = {
  // Local runs no servers of its own besides MLflow: a SQLite file and a folder, or external stores.
  local: { database: ["sqlite", "external"], objectStore: ["localFolder", "s3"] },
  docker: { database: ["inStack", "external"], objectStore: ["inStack", "s3"] },
  kubernetes: { database: ["inStack", "external"], objectStore: ["inStack", "s3"] },
} as const satisfies Record<Platform, { readonly database: readonly DatabaseKind[]; readonly objectStore: readonly ObjectStoreKind[] }>;

export type StorageKey = keyof (typeof platformSupport)[Platform];
export type SupportedKind<P extends Platform, K extends StorageKey> = (typeof platformSupport)[P][K][number];

const supported = (platform: Platform, key: StorageKey): readonly string[] => platformSupport[platform][key];

/** The kind a platform uses when the stack file leaves `tracking.<key>` out. */
export function defaultKind<K extends StorageKey>(platform: Platform, key: K): SupportedKind<Platform, K> {
  return platformSupport[platform][key][0];
}

/** Why `kind` cannot be used on `platform` (what to use instead and where it works), or undefined when it can. */
export function unsupportedReason(platform: Platform, key: StorageKey, kind: string): string | undefined {
  if (supported(platform, key).includes(kind)) return undefined;
  const elsewhere = platforms.filter((p) => supported(p, key).includes(kind));
  return `expected ${supported(platform, key).join(" or ")}: ${kind} only works on platform ${elsewhere.join(", ")}`;
}

/**
 * The storage choices narrowed to what `platform` runs; throws with the key and what to use instead.
 * The schema refuses these already, so this guards components built from hand-written args.
 */
export function supportedStorage<P extends Platform, D extends { readonly kind: DatabaseKind }, O extends { readonly kind: ObjectStoreKind }>(
  platform: P,
  database: D,
  objectStore: O,
): { database: Extract<D, { kind: SupportedKind<P, "database"> }>; objectStore: Extract<O, { kind: SupportedKind<P, "objectStore"> }> } {
  for (const [key, kind] of [
    ["database", database.kind],
    ["objectStore", objectStore.kind],
  ] as const) {
    if (!supported(platform, key).includes(kind)) {
      throw new Error(`tracking.${key}.kind '${kind}' is not supported on platform ${platform}: use ${supported(platform, key).join(" or ")}`);
    }
  }
  return { database, objectStore } as { database: Extract<D, { kind: SupportedKind<P, "database"> }>; objectStore: Extract<O, { kind: SupportedKind<P, "objectStore"> }> };
}
