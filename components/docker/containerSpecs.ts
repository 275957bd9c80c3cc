/**
 * The spec builders of the Docker platform, one file per concern: the vocabulary (specBasics), tracking,
 * training and serving. Pure functions of typed config; the Pulumi components and the integration test
 * both call them, so what the test proves about a topology holds for what `pulumi up` deploys.
 */
export * from "./servingSpecs";
export * from "./specBasics";
export * from "./trackingSpecs";
export * from "./trainingSpecs";
