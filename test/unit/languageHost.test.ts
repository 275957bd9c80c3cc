// The pure parts of scripts/toolchain/pulumi-language-nodejs: options, command line, config, exit mapping.
import { describe, expect, it } from "vitest";
import {
  buildNodeCommand,
  describeExit,
  engineAddressFromArgs,
  legacyConfigJson,
  parseRuntimeOptions,
  type RunInputs,
  splitShellWords,
} from "../../scripts/toolchain/pulumi-language-nodejs/runCommand";

const baseRun: RunInputs = {
  runScript: "/repo/node_modules/@pulumi/pulumi/cmd/run/index.js",
  monitorAddress: "127.0.0.1:4000",
  engineAddress: "127.0.0.1:5000",
  organization: "",
  project: "mlops-pipeline",
  stack: "local",
  rootDirectory: "/repo",
  programDirectory: "/repo",
  entryPoint: "index.ts",
  dryRun: true,
  parallel: 16,
  tracing: "",
  programArgs: [],
  config: new Map([["mlops:platform", "local"]]),
  configSecretKeys: ["mlops:token"],
  options: { typescript: false, tsconfigPath: "", nodeArgs: ["--import", "tsx"] },
};

describe("parseRuntimeOptions", () => {
  it("defaults typescript to true like the Go host and splits nodeargs", () => {
    expect(parseRuntimeOptions({ nodeargs: "--import tsx --max-old-space-size=4096" })).toEqual({
      typescript: true,
      tsconfigPath: "",
      nodeArgs: ["--import", "tsx", "--max-old-space-size=4096"],
    });
  });

  it("names the option and the expected type when a value has the wrong type", () => {
    expect(() => parseRuntimeOptions({ typescript: "yes" })).toThrow('runtime.options.typescript must be a boolean, got "yes"');
    expect(() => parseRuntimeOptions({ nodeargs: 3 })).toThrow("runtime.options.nodeargs must be a string, got 3");
  });
});

describe("splitShellWords", () => {
  it("keeps quoted words together and drops the quotes", () => {
    expect(splitShellWords(`--import tsx --title "my program" --x='a b' c\\ d`)).toEqual(["--import", "tsx", "--title", "my program", "--x=a b", "c d"]);
  });

  it("rejects an unterminated quote", () => {
    expect(() => splitShellWords(`--title "oops`)).toThrow('unterminated " quote');
  });
});

describe("legacyConfigJson", () => {
  it("rewrites <ns>:<name> keys to <ns>:config:<name> and keeps legacy keys", () => {
    const json = legacyConfigJson(
      new Map([
        ["mlops:platform", "docker"],
        ["aws:config:region", "eu-west-1"],
      ]),
    );
    expect(JSON.parse(json)).toEqual({ "mlops:config:platform": "docker", "aws:config:region": "eu-west-1" });
  });

  it("rejects a key without a namespace", () => {
    expect(() => legacyConfigJson(new Map([["platform", "x"]]))).toThrow("could not parse platform as a configuration key");
  });
});

describe("buildNodeCommand", () => {
  it("puts node args first, then the SDK run script with the engine's flags, then the entry point", () => {
    const { args, env } = buildNodeCommand(baseRun);
    expect(args).toEqual([
      "--import",
      "tsx",
      baseRun.runScript,
      "--monitor",
      "127.0.0.1:4000",
      "--engine",
      "127.0.0.1:5000",
      "--project",
      "mlops-pipeline",
      "--root-directory",
      "/repo",
      "--stack",
      "local",
      "--pwd",
      "/repo",
      "--dry-run",
      "--parallel",
      "16",
      "index.ts",
    ]);
    expect(JSON.parse(env.PULUMI_CONFIG)).toEqual({ "mlops:config:platform": "local" });
    expect(JSON.parse(env.PULUMI_CONFIG_SECRET_KEYS)).toEqual(["mlops:token"]);
    expect(env.PULUMI_NODEJS_TYPESCRIPT).toBeUndefined();
  });

  it("flags TypeScript and a tsconfig for the SDK, omits --dry-run for an update and runs '.' without an entry point", () => {
    const { args, env } = buildNodeCommand({
      ...baseRun,
      dryRun: false,
      entryPoint: "",
      programArgs: ["extra"],
      options: { typescript: true, tsconfigPath: "tsconfig.build.json", nodeArgs: [] },
    });
    expect(args).not.toContain("--dry-run");
    expect(args.slice(-2)).toEqual([".", "extra"]);
    expect(env.PULUMI_NODEJS_TYPESCRIPT).toBe("true");
    expect(env.PULUMI_NODEJS_TSCONFIG_PATH).toBe("tsconfig.build.json");
  });
});

describe("describeExit", () => {
  it("maps exit codes the way the CLI expects", () => {
    expect(describeExit(0, null)).toEqual({ error: "", bail: false });
    expect(describeExit(32, null)).toEqual({ error: "", bail: true });
    expect(describeExit(1, null).error).toBe("Program exited with non-zero exit code: 1");
    expect(describeExit(null, "SIGKILL").error).toContain("SIGKILL");
  });
});

describe("engineAddressFromArgs", () => {
  it("skips Go-style flags the CLI adds and takes the positional engine address", () => {
    expect(engineAddressFromArgs(["--logtostderr", "-v=9", "--tracing", "http://zipkin", "127.0.0.1:6000"])).toEqual({
      engineAddress: "127.0.0.1:6000",
      tracing: "http://zipkin",
    });
    expect(engineAddressFromArgs(["-root=/repo", "127.0.0.1:6001"]).engineAddress).toBe("127.0.0.1:6001");
  });
});
