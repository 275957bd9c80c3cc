export * from "./formatTopRuns";
export * from "./mlflowClient";
export * from "./mlflowTypes";
export * from "./register";
export * from "./searchQuery";
export * from "./select";
