export * from "./errors";
export * from "./load";
export * from "./metricsConfig";
export * from "./stackConfig";
