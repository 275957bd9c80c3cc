// A throwaway TypeScript Pulumi project that runs through the plain CLI path (`pulumi preview|up`),
// i.e. through our nodejs language host: a dynamic resource, a config value, a secret and stack outputs.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const PROGRAM = `import * as pulumi from "@pulumi/pulumi";

const provider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: { text: string }) {
    return { id: "probe-1", outs: { text: inputs.text, length: inputs.text.length } };
  },
};

class TextProbe extends pulumi.dynamic.Resource {
  declare readonly length: pulumi.Output<number>;
  constructor(name: string, text: pulumi.Input<string>) {
    super(provider, name, { text, length: undefined }, {});
  }
}

const config = new pulumi.Config();
if (config.getBoolean("fail")) throw new Error("probe program failed on purpose");
const probe = new TextProbe("probe", config.require("text"));
export const length = probe.length;
export const token = config.requireSecret("token");
`;

/** Writes the project into `dir`, using the repository's node_modules (symlinked, nothing installed). */
export function writeProbeProject(repoDir: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "Pulumi.yaml"),
    'name: langhost-probe\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n    nodeargs: "--import tsx"\nmain: index.ts\n',
  );
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "langhost-probe", private: true, main: "index.ts" }));
  fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
  fs.symlinkSync(path.join(repoDir, "node_modules"), path.join(dir, "node_modules"));
}

export interface CliResult {
  readonly code: number;
  readonly output: string;
}

/** Runs the CLI to completion; never throws on a non-zero exit (callers assert on code and output). */
export function runCli(cli: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(cli, [...args], { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}
