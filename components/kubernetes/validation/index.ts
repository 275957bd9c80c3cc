/**
 * Checks over rendered Kubernetes manifests, apart from the components that build them: production
 * posture rules (posture*.ts, sharing postureTypes.ts) and OpenAPI schema validation, joined by the
 * render gate (renderedManifests.ts). The driver's `render` and the tests use them.
 */
export * from "./openApiSchema";
export * from "./posture";
export { asFields, get, list, stringMap } from "./postureModel";
export * from "./postureFiles";
export * from "./postureTypes";
export * from "./renderedManifests";
