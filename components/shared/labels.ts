/** The `app.kubernetes.io/*` recommended labels, so kubectl, dashboards and policies see one app. */

export interface LabelArgs {
  /** The application, e.g. `mlflow`, `model-server`. */
  readonly name: string;
  /** This installation of it, usually the component's Pulumi name. */
  readonly instance: string;
  /** Its role in the architecture, e.g. `tracking`, `training`, `serving`. */
  readonly component: string;
  readonly version?: string;
  readonly partOf?: string;
  readonly managedBy?: string;
}

const prefix = "app.kubernetes.io";

/** A label value Kubernetes accepts: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends. */
export function labelValue(raw: string): string {
  return raw
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

export function standardLabels(args: LabelArgs): Record<string, string> {
  const labels: Record<string, string> = {
    ...selectorLabels(args),
    [`${prefix}/part-of`]: labelValue(args.partOf ?? "mlops-pipeline"),
    [`${prefix}/managed-by`]: labelValue(args.managedBy ?? "pulumi"),
  };
  if (args.version !== undefined) labels[`${prefix}/version`] = labelValue(args.version);
  return labels;
}

/** The labels that never change over an object's life (no version), safe for immutable selectors. */
export function selectorLabels(args: Pick<LabelArgs, "name" | "instance" | "component">): Record<string, string> {
  return {
    [`${prefix}/name`]: labelValue(args.name),
    [`${prefix}/instance`]: labelValue(args.instance),
    [`${prefix}/component`]: labelValue(args.component),
  };
}
