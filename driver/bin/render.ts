/** `npm run render -- [--stack <name>] [--out <dir>] [--project-dir <dir>]`: render and validate the Kubernetes manifests. */
import { parseFlags, runMain, stackName } from "../cli";
import { renderCommand } from "../render";

const usage = "usage: npm run render -- [--stack <name>] [--out <dir>] [--project-dir <dir>]   (default out: a temporary folder, deleted afterwards)";

export function main(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  const flags = parseFlags(argv, { stack: { type: "string" }, out: { type: "string" }, "project-dir": { type: "string" } }, usage);
  return renderCommand({ stack: stackName(flags.stack), out: flags.out, projectDir: flags["project-dir"] }, log);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
