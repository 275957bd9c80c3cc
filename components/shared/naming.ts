import { shortHash } from "./trialKey";

/** Name of a component's child resource: `${name}-<role>`, the Pulumi component-library convention. */
export function childName(name: string, role: string): string {
  return `${name}-${role}`;
}

/** Kubernetes object names (Services, StatefulSets, ...) must be DNS labels of at most 63 characters. */
export const dnsLabelMaxLength = 63;

/** Pulumi auto-naming appends `-` plus 7 random characters to a resource's name. */
export const autonameSuffixLength = 8;

/**
 * An RFC 1035 label (what every Kubernetes kind accepts: lower-case alphanumerics and '-', starting
 * with a letter, ending alphanumeric) of at most `maxLength` characters. A name that had to be
 * shortened or rewritten keeps a hash of the original, so two long names that share a prefix differ.
 */
export function dnsLabel(raw: string, maxLength: number = dnsLabelMaxLength): string {
  if (maxLength < 10) throw new Error(`dnsLabel: expected maxLength >= 10, got ${maxLength}`);
  let label = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (!/^[a-z]/.test(label)) label = `x-${label}`.replace(/-+$/, "");
  if (label.length <= maxLength) return label;
  const hash = shortHash(raw, 8);
  return `${label.slice(0, maxLength - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

/** The base for a Kubernetes name that Pulumi auto-names: short enough that the suffix still fits. */
export function autonameBase(name: string): string {
  return dnsLabel(name, dnsLabelMaxLength - autonameSuffixLength);
}
