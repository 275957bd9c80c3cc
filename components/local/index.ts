// Components: what the programs build (each implements an interface of components/interfaces.ts).
export * from "./modelServing";
export * from "./trackingServer";
export * from "./trainingFanout";

// Internals: the dynamic resources the components are made of (a supervised process, a job run
// to completion) and the on-disk layout of a local stack. Exported for the unit tests and for
// test/support; a program needs none of them. Not exported: supervisor.ts (process control used
// by those resources, imported by path in its test) and loadBalancer.ts (run as its own process).
export * from "./localJob";
export * from "./localProcess";
export * from "./paths";
