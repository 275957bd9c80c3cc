// The Automation API's typed errors as one-line messages (driver/stackErrors.ts), and the phase stack
// operations that use them (driver/phaseStack.ts) with LocalWorkspace replaced: no Pulumi CLI runs here.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as automation from "@pulumi/pulumi/automation";
import { CommandError, ConcurrentUpdateError, LocalWorkspace, type Stack, StackNotFoundError } from "@pulumi/pulumi/automation";
import { afterEach, describe, expect, it, vi } from "vitest";
import { UserError } from "../../driver/cli";
import { type PhaseStackOptions, phaseOutputs, previewPhase, storedOutputs, upPhase } from "../../driver/phaseStack";
import { PhaseProgress } from "../../driver/progress";
import { engineErrorLines, explainStackError } from "../../driver/stackErrors";

/**
 * The SDK's own classifier of a failed CLI call (internal to @pulumi/pulumi, not in its typings): feeding it
 * what the CLI prints proves the driver gets the typed error, not text it would have to scrape.
 */
const { createCommandError } = automation as unknown as {
  createCommandError(result: { stdout: string; stderr: string; code: number; toString(): string }): Error;
};
const cliError = (stderr: string, stdout = "") => createCommandError({ stdout, stderr, code: 255, toString: () => `code: 255\n stdout: ${stdout}\n stderr: ${stderr}\n` });

const missing = () => cliError("error: no stack named 'local-training' found\n");
const locked = () => cliError("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n");
const failedUpdate = () =>
  cliError(
    "",
    [
      "Updating (dev-tracking):",
      "    pulumi:pulumi:Stack mlops-pipeline-dev-tracking running",
      "    error: docker:index/container:Container resource 'dev-tracking-mlflow' has a problem: port 5000 is already allocated",
      "    error: update failed",
      "    error: docker:index/container:Container resource 'dev-tracking-mlflow' has a problem: port 5000 is already allocated",
    ].join("\n"),
  );

describe("explainStackError", () => {
  it("gets typed errors from what the CLI prints", () => {
    expect(missing()).toBeInstanceOf(StackNotFoundError);
    expect(locked()).toBeInstanceOf(ConcurrentUpdateError);
    expect(failedUpdate()).toBeInstanceOf(CommandError);
  });

  it("a missing phase stack names the phase to run first", () => {
    expect(explainStackError(missing(), { stack: "local", stackName: "local-training" })).toBeInstanceOf(UserError);
    expect((explainStackError(missing(), { stack: "local", stackName: "local-training" }) as Error).message).toBe(
      "stack local-training does not exist: run `make pipeline` or `--phase train` first",
    );
    expect((explainStackError(missing(), { stack: "dev", stackName: "dev-tracking" }) as Error).message).toBe(
      "stack dev-tracking does not exist: run `make pipeline STACK=dev` or `--phase init` first",
    );
  });

  it("a locked stack says to wait or cancel", () => {
    expect((explainStackError(locked(), { stack: "dev", stackName: "dev-serving" }) as Error).message).toBe(
      "another update is running on stack dev-serving: wait for it or run `pulumi cancel --stack dev-serving` (after `source scripts/env.sh`)",
    );
  });

  it("a failed engine run shows the engine's own error lines once each, and where the full log is", () => {
    const message = (explainStackError(failedUpdate(), { stack: "dev", stackName: "dev-tracking", logFile: "/x/pulumi-dev-tracking.log" }) as Error).message;
    expect(message).toBe(
      "stack dev-tracking failed:\n  error: docker:index/container:Container resource 'dev-tracking-mlflow' has a problem: port 5000 is already allocated\n  (full engine log: /x/pulumi-dev-tracking.log)",
    );
    expect(engineErrorLines("error: update failed\nnothing else")).toEqual([]);
  });

  it("leaves other errors alone", () => {
    const other = new Error("fetch failed");
    expect(explainStackError(other, { stack: "local", stackName: "local-serving" })).toBe(other);
    const silent = cliError("something odd");
    expect(explainStackError(silent, { stack: "local", stackName: "local-serving" })).toBe(silent);
  });
});

describe("phase stack operations (LocalWorkspace replaced)", () => {
  afterEach(() => vi.restoreAllMocks());
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-phase-stack-"));
  const opts = (stackName: string, extra: Partial<PhaseStackOptions> = {}): PhaseStackOptions => ({
    stack: "local",
    stackName,
    program: async () => ({}),
    workspace: {},
    progress: new PhaseProgress("test", () => {}),
    logFile: path.join(logDir, `${stackName}.log`),
    ...extra,
  });
  const fakeStack = (methods: Record<string, unknown>) => methods as unknown as Stack;

  it("reads outputs by selecting the stack, never creating it; a missing stack is a clear message", async () => {
    const create = vi.spyOn(LocalWorkspace, "createOrSelectStack");
    vi.spyOn(LocalWorkspace, "selectStack").mockRejectedValue(missing());
    await expect(phaseOutputs(opts("local-training"))).rejects.toThrow("stack local-training does not exist: run `make pipeline` or `--phase train` first");
    await expect(storedOutputs(opts("local-training"))).resolves.toBeUndefined();
    expect(create).not.toHaveBeenCalled();
  });

  it("passes the outputs of an existing stack through", async () => {
    const outputs = { studyId: { value: "s1", secret: false } };
    vi.spyOn(LocalWorkspace, "selectStack").mockResolvedValue(fakeStack({ outputs: async () => outputs }));
    await expect(phaseOutputs(opts("local-training"))).resolves.toEqual(outputs);
  });

  it("updates with refresh when asked, and turns a concurrent update into one line", async () => {
    const up = vi.fn(async () => ({ outputs: {}, summary: { resourceChanges: { create: 2, same: 3 } } }));
    vi.spyOn(LocalWorkspace, "createOrSelectStack").mockResolvedValue(fakeStack({ up }));
    await expect(upPhase(opts("dev-tracking", { stack: "dev", refresh: true }))).resolves.toMatchObject({ changes: 2 });
    expect(up).toHaveBeenCalledWith(expect.objectContaining({ refresh: true }));
    await upPhase(opts("local-tracking"));
    expect(up).toHaveBeenLastCalledWith(expect.objectContaining({ refresh: undefined }));

    up.mockRejectedValueOnce(locked());
    await expect(upPhase(opts("dev-tracking", { stack: "dev" }))).rejects.toThrow(/^another update is running on stack dev-tracking: wait for it or run `pulumi cancel/);
  });

  it("removes a stack it created only for a preview", async () => {
    const removeStack = vi.fn(async () => {});
    const preview = vi.fn(async () => ({ stdout: "diff", changeSummary: { create: 4 } }));
    vi.spyOn(LocalWorkspace, "createOrSelectStack").mockResolvedValue(fakeStack({ preview, workspace: { removeStack } }));
    await expect(previewPhase(opts("local-serving"), () => {}, true)).resolves.toEqual({ diff: "diff", summary: { create: 4 } });
    expect(removeStack).toHaveBeenCalledWith("local-serving");
    removeStack.mockClear();
    await previewPhase(opts("local-serving"), () => {});
    expect(removeStack).not.toHaveBeenCalled();
  });
});
