/** `npm run render -- [--stack <name>] [--out <dir>] [--project-dir <dir>]`: render and validate the Kubernetes manifests. */
import { parseFlags, runMain, stackName } from "../cli";

const usage = "usage: npm run render -- [--stack <name>] [--out <dir>] [--project-dir <dir>]   (default out: a temporary folder, deleted afterwards)";

export async function main(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(argv, { stack: { type: "string" }, out: { type: "string" }, "project-dir": { type: "string" } }, usage);
  const stack = stackName(flags.stack);
  // Loaded after the flags are checked: `--help` and mistakes answer without loading the Pulumi SDKs.
  const { renderCommand } = await import("../render");
  return renderCommand({ stack, out: flags.out, projectDir: flags["project-dir"] }, log);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
