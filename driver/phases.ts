/**
 * The pipeline's phases, defined once: what each is called, which Pulumi stack holds it, which program it
 * runs, which values it needs from earlier phases and which it reports. The pipeline, render and preview
 * all walk this table; nothing else spells a phase out.
 */
import * as path from "node:path";
import type { OutputMap, PulumiFn } from "@pulumi/pulumi/automation";
import { modelId } from "../config";
import type { ServerAddress } from "../components/shared/optunaStorage";
import type { PhaseContext, PhaseSecrets } from "../programs/context";
import { UserError } from "./cli";
import { phaseStackName } from "../programs/context";

export const phaseNames = ["init", "train", "select", "deploy"] as const;
export type PhaseName = (typeof phaseNames)[number];

/** Phase stacks are `<stack>-<suffix>`; render mode uses `<stack>-render-<suffix>`. */
export const stackSuffixes = ["tracking", "training", "serving"] as const;
export type StackSuffix = (typeof stackSuffixes)[number];

/**
 * Every value one phase hands to a later one, by the output name it is reported under, and the phase that
 * reports it. `portForwardCommand` exists on kubernetes only.
 */
export const handoffs = {
  driverTrackingUri: "init",
  jobTrackingUri: "init",
  portForwardCommand: "init",
  /** Kubernetes with the in-stack PostgreSQL only: its Service, where the training pods share the study. */
  jobDatabaseAddress: "init",
  /** The passwords the tracking phase generated (secret); select logs in to MLflow with the admin's. */
  generatedSecrets: "init",
  studyId: "train",
  trials: "train",
  modelVersion: "select",
  endpoint: "deploy",
  /** The inference API key (secret, only with serving.auth); the smoke prediction sends it. */
  servingApiKey: "deploy",
} as const satisfies Record<string, PhaseName>;
export type HandoffKey = keyof typeof handoffs;

/** What a phase program gets besides its context: values of earlier phases, and the model to serve. */
export interface ProgramInputs {
  readonly jobTrackingUri: string;
  /** Reported only on kubernetes with the in-stack PostgreSQL (the training program says when it is missing). */
  readonly jobDatabaseAddress?: ServerAddress;
  /** `models:/<name>@<alias>`, from the selection config. */
  readonly modelUri: string;
  readonly modelVersion: string;
  /** Changes after a failed training update, so jobs that ran in it run again (docker). */
  readonly rerunKey?: string;
  /** A local dataset file as the docker and kubernetes workers read it (`mlflow-artifacts:/...`), once the driver uploaded it. */
  readonly datasetSource?: string;
}

interface PhaseCommon {
  readonly name: PhaseName;
  /** Values of earlier phases this phase cannot run without. */
  readonly needs: readonly HandoffKey[];
  /** Values this phase reports to later ones (its stack outputs, or the driver's result for select). */
  readonly reports: readonly HandoffKey[];
}

/** A phase that is a Pulumi stack. */
export interface StackPhase extends PhaseCommon {
  readonly kind: "stack";
  readonly stack: StackSuffix;
  /**
   * The program body; its result becomes the stack's outputs. Each program module is loaded when its phase
   * runs, so the table (and every command's `--help` and flag checks) loads no provider SDK.
   */
  readonly program: (ctx: PhaseContext, inputs: ProgramInputs) => Promise<Record<string, unknown>>;
  /** The progress line before the update: what is about to be built. */
  readonly intro: (ctx: Omit<PhaseContext, "secrets">, inputs: ProgramInputs, projectDir: string) => string;
  /** The start of the progress line after the update (`done, N resource change(s)` follows), from the stack's outputs. */
  readonly outcome: (outputs: OutputMap) => string;
  /** What the last-run record keeps about this phase. */
  readonly detail?: (outputs: OutputMap, inputs: ProgramInputs) => Record<string, unknown>;
}

/** A phase the driver runs itself (select: a query and a registry update, no resources). */
export interface DriverPhase extends PhaseCommon {
  readonly kind: "driver";
}

export type Phase = StackPhase | DriverPhase;

export const phases: readonly Phase[] = [
  {
    kind: "stack",
    name: "init",
    stack: "tracking",
    needs: [],
    reports: ["driverTrackingUri", "jobTrackingUri", "portForwardCommand", "jobDatabaseAddress", "generatedSecrets"],
    program: async (ctx) => (await import("../programs/tracking")).trackingPhase(ctx),
    intro: ({ config }) => {
      const { tracking } = config;
      return `MLflow ${tracking.mlflowVersion} on ${config.platform} (database: ${tracking.database.kind}, artifacts: ${tracking.objectStore.kind}, auth: ${tracking.auth.enabled ? "on" : "off"})`;
    },
    outcome: (outputs) => `tracking at ${need<string>(outputs, "driverTrackingUri")}:`,
  },
  {
    kind: "stack",
    name: "train",
    stack: "training",
    needs: ["jobTrackingUri"],
    reports: ["studyId", "trials"],
    program: async (ctx, inputs) => (await import("../programs/training")).trainingPhase(ctx, inputs, inputs.rerunKey),
    intro: ({ config: { training }, paths }, _inputs, projectDir) =>
      `${modelId(training.model)} (${training.task}): ${training.strategy.kind} search, ${training.cvFolds}-fold CV on ${training.scoring}, ${training.workers} worker(s); worker logs in ${path.relative(projectDir, paths.logDir)}/train-*.log`,
    outcome: (outputs) => `study ${need<string>(outputs, "studyId")}: ${need<number>(outputs, "trials")} trial(s);`,
    detail: (outputs) => ({ studyId: need<string>(outputs, "studyId") }),
  },
  // On kubernetes select also uses init's portForwardCommand to reach MLflow (driver/portForward.ts).
  { kind: "driver", name: "select", needs: ["driverTrackingUri", "studyId", "generatedSecrets"], reports: ["modelVersion"] },
  {
    kind: "stack",
    name: "deploy",
    stack: "serving",
    needs: ["jobTrackingUri", "modelVersion"],
    reports: ["endpoint", "servingApiKey"],
    program: async (ctx, inputs) => (await import("../programs/serving")).servingPhase(ctx, inputs),
    intro: ({ config }, inputs) => `${config.serving.replicas} replica(s) of ${inputs.modelUri} (version ${inputs.modelVersion}) behind a load balancer`,
    outcome: (outputs) => `serving at ${need<string>(outputs, "endpoint")}:`,
    detail: (outputs, inputs) => ({ endpoint: need<string>(outputs, "endpoint"), modelVersion: inputs.modelVersion }),
  },
];

export const stackPhases: readonly StackPhase[] = phases.filter((p): p is StackPhase => p.kind === "stack");

/** The stack phase called `name` (init, train or deploy). */
export function stackPhaseNamed(name: PhaseName): StackPhase {
  const phase = stackPhases.find((p) => p.name === name);
  if (!phase) throw new Error(`phase ${name} has no stack`);
  return phase;
}

/** Phase stacks are named by one rule, kept with the programs: training and serving reference the tracking stack. */
export { phaseStackName };
export const renderStackName = (stack: string, suffix: StackSuffix) => `${stack}-render-${suffix}`;

/** The phase that owns a stack name of `stack` (for messages), if any. */
export function phaseOfStack(stack: string, stackName: string): StackPhase | undefined {
  return stackPhases.find((p) => stackName === phaseStackName(stack, p.stack) || stackName === renderStackName(stack, p.stack));
}

/** The value of a handed-off output, or a clear error naming the phase to run first. */
export function need<T>(outputs: OutputMap, key: HandoffKey): T {
  const value = outputs[key]?.value as T | undefined;
  const phase = handoffs[key];
  if (value === undefined || value === null)
    throw new UserError(`phase ${phase} has not run yet (no output '${key}'): run it first, e.g. \`npm run pipeline -- --phase ${phase}\``);
  return value;
}

/** What one run does with each phase: run it, read the outputs its stack recorded, or leave it alone. */
export interface PlannedPhase {
  readonly phase: Phase;
  readonly action: "run" | "read";
}

/**
 * Which phases to run and which to read for `--phase <only>` (or all). Walking back from the requested
 * phase: an earlier phase that reports a value still needed is read from its stack; a phase with no stack
 * (select) has nothing to read, so it runs, and what it needs is needed in turn.
 */
export function planPhases(only: PhaseName | "all"): PlannedPhase[] {
  if (only === "all") return phases.map((phase) => ({ phase, action: "run" }));
  const index = phases.findIndex((p) => p.name === only);
  const target = phases[index];
  if (target === undefined) throw new Error(`no phase named ${only}`);
  const plan: PlannedPhase[] = [{ phase: target, action: "run" }];
  const needed = new Set<HandoffKey>(target.needs);
  for (const phase of phases.slice(0, index).reverse()) {
    if (!phase.reports.some((key) => needed.has(key))) continue;
    if (phase.kind === "stack") {
      plan.unshift({ phase, action: "read" });
    } else {
      plan.unshift({ phase, action: "run" });
      for (const key of phase.needs) needed.add(key);
    }
  }
  return plan;
}

/** Copies the values `phase` reports from its stack outputs into the hand-off. */
export function takeReports(handoff: OutputMap, phase: Phase, outputs: OutputMap): void {
  for (const key of phase.reports) if (outputs[key] !== undefined) handoff[key] = outputs[key];
}

/**
 * Program inputs read from the hand-off only when a program asks for them (training never asks for a model
 * version). `fallback` stands in for values no phase reported: render and preview have no selection.
 */
export function inputsFrom(
  handoff: OutputMap,
  modelUri: string,
  fallback: Partial<Record<"jobTrackingUri" | "modelVersion", string>> & { readonly jobDatabaseAddress?: ServerAddress } = {},
): ProgramInputs {
  const value = (key: "jobTrackingUri" | "modelVersion"): string => {
    const found = handoff[key]?.value;
    if (typeof found === "string") return found;
    return fallback[key] ?? need<string>(handoff, key);
  };
  return {
    get jobTrackingUri() {
      return value("jobTrackingUri");
    },
    get jobDatabaseAddress() {
      const found = handoff.jobDatabaseAddress?.value as ServerAddress | undefined;
      return found ?? fallback.jobDatabaseAddress;
    },
    modelUri,
    get modelVersion() {
      return value("modelVersion");
    },
    get rerunKey() {
      const key = handoff.rerunKey?.value;
      return typeof key === "string" ? key : undefined;
    },
    get datasetSource() {
      const source = handoff.datasetSource?.value;
      return typeof source === "string" ? source : undefined;
    },
  };
}

/**
 * The inline program of one stack phase. The context gets its secrets inside the Pulumi run: Outputs
 * belong to the runtime of that run.
 */
export function inlineProgram(phase: StackPhase, ctx: Omit<PhaseContext, "secrets">, secrets: () => PhaseSecrets, inputs: ProgramInputs): PulumiFn {
  return async () => phase.program({ ...ctx, secrets: secrets() }, inputs);
}
