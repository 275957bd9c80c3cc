import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseStackConfig } from "../../config";
import { localPaths } from "../../components/local/paths";
import { countChanges, writeRunRecord } from "../../driver/lastRun";
import { UsageError } from "../../driver/cli";
import { parsePipelineArgs, parseSelectArgs } from "../../driver/pipelineArgs";
import { resolveSecrets } from "../../driver/secrets";

describe("driver arguments", () => {
  it("defaults to the local stack and every phase", () => {
    expect(parsePipelineArgs([], {})).toEqual({ stack: "local", phase: "all", destroy: false, rotateSecrets: false });
    expect(parsePipelineArgs(["--stack", "prod", "--phase", "train"], {})).toEqual({ stack: "prod", phase: "train", destroy: false, rotateSecrets: false });
    expect(parsePipelineArgs(["--rotate-secrets", "--phase", "init"], {}).rotateSecrets).toBe(true);
    expect(parsePipelineArgs(["--metrics", "m.yaml"], {}).metricsFile).toBe("m.yaml");
    expect(parsePipelineArgs([], { STACK: "dev" }).stack).toBe("dev");
  });

  it("names the expected values on mistakes", () => {
    expect(() => parsePipelineArgs(["--phase", "fit"], {})).toThrow(/--phase expects one of init, train, select, deploy, got fit/);
    expect(() => parsePipelineArgs(["--bogus"], {})).toThrow(/unknown argument --bogus/);
    expect(() => parsePipelineArgs(["--destroy", "--phase", "init"], {})).toThrow(/drop --phase/);
    expect(() => parsePipelineArgs(["--stack", "a/b"], {})).toThrow(/expects a stack name/);
    expect(() => parsePipelineArgs(["--rotate-secrets", "--phase", "train"], {})).toThrow(/--rotate-secrets replaces the passwords in the init phase/);
    expect(() => parsePipelineArgs(["--rotate-secrets", "--destroy"], {})).toThrow(/without --destroy/);
    expect(() => parsePipelineArgs(["--phase"], {})).toThrow("--phase expects a value");
    expect(() => parsePipelineArgs(["--bogus"], {})).toThrow(UsageError);
  });

  it("npm run select: the select phase alone, with the flags that make sense for it", () => {
    expect(parseSelectArgs(["--stack", "dev", "--metrics", "m.yaml"], {})).toEqual({ stack: "dev", phase: "select", destroy: false, rotateSecrets: false, metricsFile: "m.yaml" });
    expect(parseSelectArgs([], { MLOPS_METRICS_CONFIG: "env.yaml" }).metricsFile).toBe("env.yaml");
    expect(() => parseSelectArgs(["--phase", "train"], {})).toThrow("unknown argument --phase");
    expect(() => parseSelectArgs(["--destroy"], {})).toThrow("unknown argument --destroy");
  });
});

describe("run record", () => {
  it("counts creates, updates, deletes and replaces but not unchanged resources", () => {
    expect(countChanges({ same: 7, create: 2, update: 1, delete: 1, replace: 3 })).toBe(7);
    expect(countChanges({ same: 9 })).toBe(0);
    expect(countChanges(undefined)).toBe(0);
  });

  it("writes the stack's own record (.pipeline/last-run/<stack>.json) with each phase's seconds and changes", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-run-"));
    const paths = localPaths(dir, "local");
    expect(localPaths(dir, "other").runRecord).not.toBe(paths.runRecord);
    expect(paths.runRecord).toBe(path.join(dir, ".pipeline", "last-run", "local.json"));
    const file = writeRunRecord(paths.runRecord, { stack: "local", startedAt: "a", finishedAt: "b", ok: true, phases: [{ name: "init", seconds: 1.5, resourceChanges: 0 }] });
    expect(JSON.parse(fs.readFileSync(file, "utf8")).phases[0]).toEqual({ name: "init", seconds: 1.5, resourceChanges: 0 });
  });
});

describe("user secrets", () => {
  it("generate nothing: the stack's own passwords are RandomPasswords of the tracking phase (test/unit/generatedSecrets.test.ts)", () => {
    const dockerStack = parseStackConfig({ "mlops:platform": "docker", "mlops:tracking": { auth: { enabled: true } } }, "Pulumi.dev.yaml");
    expect(resolveSecrets(dockerStack, {})).toEqual({});
    expect(resolveSecrets(dockerStack, { MLOPS_AUTH_ADMIN_PASSWORD: "mine-and-long-enough" })).toEqual({ authAdminPassword: "mine-and-long-enough" });
  });

  it("take external passwords only from the environment, with a message naming the variable", () => {
    const external = parseStackConfig({ "mlops:platform": "local", "mlops:tracking": { database: { kind: "external", host: "db.example" } } }, "Pulumi.local.yaml");
    expect(() => resolveSecrets(external, {})).toThrow(/set MLOPS_DATABASE_PASSWORD/);
    expect(resolveSecrets(external, { MLOPS_DATABASE_PASSWORD: "pw" }).databasePassword).toBe("pw");
  });
});
