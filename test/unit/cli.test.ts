import { describe, expect, it } from "vitest";
import { ConfigError } from "../../config";
import { parseFlags, reportError, stackName, UsageError, UserError } from "../../driver/cli";

const spec = { stack: { type: "string" }, verbose: { type: "boolean" } } as const;

describe("parseFlags", () => {
  it("reads --name value, --name=value and booleans", () => {
    expect(parseFlags(["--stack", "dev", "--verbose"], spec, "u")).toEqual({ stack: "dev", verbose: true });
    expect(parseFlags(["--stack=prod"], spec, "u")).toEqual({ stack: "prod", verbose: false });
  });

  it.each([
    [["--stak", "dev"], "unknown argument --stak"],
    [["dev"], "unknown argument dev"],
    [["--stack"], "--stack expects a value"],
    [["--stack", "--verbose"], "--stack expects a value"],
    [["--verbose=yes"], "--verbose takes no value"],
  ])("refuses %j: %s", (argv, message) => {
    expect(() => parseFlags(argv, spec, "u")).toThrow(new UsageError(message, "u"));
  });
});

describe("stackName", () => {
  it("takes the flag, else $STACK, else local, and refuses names Pulumi would not", () => {
    expect(stackName("dev", {})).toBe("dev");
    expect(stackName(undefined, { STACK: "prod" })).toBe("prod");
    expect(stackName(undefined, {})).toBe("local");
    expect(() => stackName("a b", {})).toThrow("--stack expects a stack name");
  });
});

describe("reportError", () => {
  it("prints config problems one per line and returns 1", () => {
    const out: string[] = [];
    const code = reportError(
      new ConfigError([
        { file: "f.yaml", key: "a.b", message: "expected x", line: 3 },
        { file: "f.yaml", key: "c", message: "expected y" },
      ]),
      (t) => out.push(t),
    );
    expect([code, out.join("")]).toEqual([1, "f.yaml:3: a.b: expected x\nf.yaml: c: expected y\n"]);
  });

  it("prints other errors as one line without the stack trace unless MLOPS_DEBUG is set", () => {
    const out: string[] = [];
    const saved = process.env.MLOPS_DEBUG;
    delete process.env.MLOPS_DEBUG;
    try {
      expect(reportError(new Error("boom"), (t) => out.push(t))).toBe(1);
    } finally {
      if (saved !== undefined) process.env.MLOPS_DEBUG = saved;
    }
    expect(out.join("")).toBe("error: boom\n(set MLOPS_DEBUG=1 to see the stack trace)\n");
  });

  it("prints a mistake the message fully explains as one line, with no stack-trace hint", () => {
    const out: string[] = [];
    expect(reportError(new UserError("stack local-training does not exist: run `make pipeline` or `--phase train` first"), (t) => out.push(t))).toBe(1);
    expect(out.join("")).toBe("error: stack local-training does not exist: run `make pipeline` or `--phase train` first\n");
  });
});
