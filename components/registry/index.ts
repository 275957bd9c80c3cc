// Component: the select phase as a resource, for the one-stack `pulumi up` (index.ts).
export * from "./championAlias";

// The selection library it runs, which the driver's select phase runs too (through programs/select):
// an MLflow REST client, the search query built from metrics_config.yaml, champion selection and
// registration under an alias.
export * from "./mlflowClient";
export * from "./mlflowTypes";
export * from "./register";
export * from "./searchQuery";
export * from "./select";
