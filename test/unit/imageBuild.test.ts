import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { imagesSchema } from "../../config";
import { imageBuildFlags } from "../../config/imageBuild";

/** `make build-train` / `make build-prod` build the images a stack runs: the flags come from its `images` config. */

const root = path.resolve(__dirname, "../..");

describe("images config -> build-images.sh flags", () => {
  it("passes the tag always, the registry and the Python base only when set", () => {
    expect(imageBuildFlags(imagesSchema.parse({}))).toEqual(["--tag", "0.1.0"]);
    expect(imageBuildFlags(imagesSchema.parse({ pythonBase: "local/python-base:bookworm-1a2b", registry: "localhost:5000/ml", tag: "2.1.0" }))).toEqual([
      "--base",
      "local/python-base:bookworm-1a2b",
      "--tag",
      "2.1.0",
      "--registry",
      "localhost:5000/ml",
    ]);
  });

  it("refuses a registry prefix the shell or Docker would split or reject", () => {
    expect(() => imagesSchema.parse({ registry: "registry.example.com/ml team" })).toThrow(/expected a registry prefix/);
    expect(() => imagesSchema.parse({ registry: "Registry.Example.com" })).toThrow(/expected a registry prefix/);
  });

  it("prints the shipped prod stack's flags, and names the stack file when it is missing (the command make runs)", () => {
    const run = (stack: string) => spawnSync(process.execPath, ["--import", "tsx", "config/imageBuild.ts", "--stack", stack], { cwd: root, encoding: "utf8" });
    const prod = run("prod");
    expect(prod.status, prod.stderr).toBe(0);
    expect(prod.stdout.trim()).toBe("--tag 0.1.0 --registry registry.example.com/mlops");
    const missing = run("no-such-stack");
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/Pulumi\.no-such-stack\.yaml: \(file\): expected a stack file/);
  });
});
