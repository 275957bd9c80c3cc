export * from "./localJob";
export * from "./localProcess";
export * from "./modelServing";
export * from "./paths";
export * from "./trackingServer";
export * from "./trainingFanout";
