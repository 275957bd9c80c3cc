export * from "./labels";
export * from "./naming";
export * from "./random";
export * from "./searchSpace";
export * from "./sharding";
export * from "./study";
export * from "./studySpec";
export * from "./trialKey";
