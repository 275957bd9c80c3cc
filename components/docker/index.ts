export * from "./containerSpecs";
export * from "./loadBalancerConfig";
export * from "./modelServing";
export * from "./pulumiContainer";
export * from "./trackingServer";
export * from "./trainingFanout";
