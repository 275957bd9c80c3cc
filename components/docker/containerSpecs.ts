/**
 * The spec builders of the Docker platform, one file per concern: the vocabulary (specBasics), tracking,
 * training and serving. Pure functions of typed config: the Pulumi components map them onto
 * @pulumi/docker resources, and unit tests check them without Pulumi.
 */
export * from "./servingSpecs";
export * from "./specBasics";
export * from "./trackingSpecs";
export * from "./trainingSpecs";
