// Components: what the programs build (each implements an interface of components/interfaces.ts).
export * from "./derivedImage";
export * from "./modelServing";
export * from "./trackingServer";
export * from "./trainingFanout";

// Internals: the container specs (plain data), the nginx config and the @pulumi/docker plumbing the
// components are made of. Exported for the unit tests; a program needs none of them.
export * from "./containerSpecs";
export * from "./loadBalancerConfig";
export * from "./pulumiContainer";
