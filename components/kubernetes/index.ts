// Components: what the programs build (each implements an interface of components/interfaces.ts).
export * from "./modelServing";
export * from "./trackingServer";
export * from "./trainingFanout";

// Sub-components of the tracking server (each returns its connection as an Output).
export * from "./inStackObjectStore";
export * from "./inStackPostgres";
export * from "./mlflowServer";

// Internals: the pure manifest builders and helpers the components are made of. Exported for the
// unit tests and the render checks; a program needs none of them.
export * from "./clientSecret";
export * from "./meta";
export * from "./mlflowManifests";
export * from "./networkPolicy";
export * from "./objectStoreManifests";
export * from "./postgresManifests";
export * from "./service";
export * from "./servingManifests";
export * from "./statefulSet";
export * from "./trackingSecret";
export * from "./trainingManifests";

// Checks over rendered manifests (posture rules, OpenAPI schemas, the render gate): ./validation.
export * from "./validation";
