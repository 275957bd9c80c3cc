/**
 * The select phase's code for the driver: the selection library (in components/registry, where the
 * ChampionAlias resource of the one-stack program uses it too) and the table the driver prints.
 */
export * from "../../components/registry/mlflowClient";
export * from "../../components/registry/mlflowTypes";
export * from "../../components/registry/register";
export * from "../../components/registry/searchQuery";
export * from "../../components/registry/select";
export * from "./formatTopRuns";
