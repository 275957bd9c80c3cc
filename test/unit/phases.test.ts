// driver/phases.ts: the one table of phases, the plan for `--phase <name>`, the hand-off between phases.
import type { OutputMap } from "@pulumi/pulumi/automation";
import { describe, expect, it } from "vitest";
import { refreshBeforeUpdate } from "../../driver/phaseStack";
import {
  handoffs,
  inputsFrom,
  need,
  phaseNames,
  phaseOfStack,
  phaseStackName,
  phases,
  planPhases,
  renderStackName,
  stackPhaseNamed,
  stackPhases,
  stackSuffixes,
  takeReports,
} from "../../driver/phases";

const out = (values: Record<string, unknown>): OutputMap => Object.fromEntries(Object.entries(values).map(([k, value]) => [k, { value, secret: false }]));
const plan = (only: Parameters<typeof planPhases>[0]) => planPhases(only).map(({ phase, action }) => `${action} ${phase.name}`);

describe("the phases table", () => {
  it("lists init, train, select, deploy in order; the three stack phases own tracking, training, serving", () => {
    expect(phases.map((p) => p.name)).toEqual([...phaseNames]);
    expect(stackPhases.map((p) => [p.name, p.stack])).toEqual([
      ["init", "tracking"],
      ["train", "training"],
      ["deploy", "serving"],
    ]);
    expect(stackPhases.map((p) => p.stack)).toEqual([...stackSuffixes]);
    expect(phases.find((p) => p.name === "select")?.kind).toBe("driver");
  });

  it("every value a phase needs is reported by an earlier phase, and the hand-off table agrees who reports what", () => {
    for (const [i, phase] of phases.entries()) {
      const earlier = new Set(phases.slice(0, i).flatMap((p) => p.reports));
      for (const key of phase.needs) expect(earlier.has(key), `${phase.name} needs ${key}`).toBe(true);
      for (const key of phase.reports) expect(handoffs[key], `${phase.name} reports ${key}`).toBe(phase.name);
    }
    expect(new Set(phases.flatMap((p) => p.reports))).toEqual(new Set(Object.keys(handoffs)));
  });

  it("names phase stacks <stack>-<suffix> and render stacks <stack>-render-<suffix>, and finds the phase back from a name", () => {
    expect(phaseStackName("local", "training")).toBe("local-training");
    expect(renderStackName("prod", "serving")).toBe("prod-render-serving");
    expect(phaseOfStack("local", "local-training")?.name).toBe("train");
    expect(phaseOfStack("prod", "prod-render-tracking")?.name).toBe("init");
    expect(phaseOfStack("local", "other-training")).toBeUndefined();
    expect(stackPhaseNamed("deploy").stack).toBe("serving");
    expect(() => stackPhaseNamed("select")).toThrow("phase select has no stack");
  });
});

describe("planPhases", () => {
  it("runs everything without --phase", () => {
    expect(plan("all")).toEqual(["run init", "run train", "run select", "run deploy"]);
  });

  it("reads only the stacks whose outputs the requested phase needs", () => {
    expect(plan("init")).toEqual(["run init"]);
    expect(plan("train")).toEqual(["read init", "run train"]);
    expect(plan("select")).toEqual(["read init", "read train", "run select"]);
  });

  it("runs select before deploy: it has no stack to read the model version from", () => {
    expect(plan("deploy")).toEqual(["read init", "read train", "run select", "run deploy"]);
  });
});

describe("hand-off between phases", () => {
  it("takes only what a phase reports from its stack outputs", () => {
    const handoff: OutputMap = {};
    takeReports(handoff, stackPhaseNamed("init"), out({ driverTrackingUri: "http://127.0.0.1:5000", jobTrackingUri: "http://h:5000", artifactLocation: "s3://a" }));
    expect(Object.keys(handoff).sort()).toEqual(["driverTrackingUri", "jobTrackingUri"]);
  });

  it("names the phase to run first when a value is missing", () => {
    expect(need<string>(out({ studyId: "s1" }), "studyId")).toBe("s1");
    expect(() => need(out({}), "studyId")).toThrow("phase train has not run yet (no output 'studyId'): run it first, e.g. `npm run pipeline -- --phase train`");
    expect(() => need(out({ endpoint: null }), "endpoint")).toThrow("phase deploy has not run yet");
  });

  it("gives programs their inputs when they read them, from the hand-off or the fallback", () => {
    const handoff: OutputMap = {};
    const inputs = inputsFrom(handoff, "models:/m@champion");
    // Nothing is read up front: training never asks for a model version.
    expect(inputs.modelUri).toBe("models:/m@champion");
    expect(() => inputs.jobTrackingUri).toThrow("phase init has not run yet (no output 'jobTrackingUri')");
    handoff.jobTrackingUri = { value: "http://tracking:5000", secret: false };
    expect(inputs.jobTrackingUri).toBe("http://tracking:5000");
    expect(inputsFrom(handoff, "models:/m@champion", { modelVersion: "0" }).modelVersion).toBe("0");
    handoff.modelVersion = { value: "7", secret: false };
    expect(inputsFrom(handoff, "models:/m@champion", { modelVersion: "0" }).modelVersion).toBe("7");
  });

  it("builds the intro and outcome lines the pipeline prints from the stack outputs", () => {
    const train = stackPhaseNamed("train");
    expect(train.outcome(out({ studyId: "abc", trials: 8 }))).toBe("study abc: 8 trial(s);");
    expect(train.detail?.(out({ studyId: "abc", trials: 8 }), inputsFrom({}, "m"))).toEqual({ studyId: "abc" });
    expect(stackPhaseNamed("deploy").outcome(out({ endpoint: "http://127.0.0.1:8000" }))).toBe("serving at http://127.0.0.1:8000:");
  });
});

describe("refresh before an update", () => {
  it("on docker and kubernetes, where resources drift behind Pulumi's back; not on local, nor in render mode", () => {
    expect(refreshBeforeUpdate("docker")).toBe(true);
    expect(refreshBeforeUpdate("kubernetes")).toBe(true);
    expect(refreshBeforeUpdate("local")).toBe(false);
    expect(refreshBeforeUpdate("kubernetes", true)).toBe(false);
  });
});
