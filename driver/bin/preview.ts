/** `npm run preview -- [--stack <name>] [--render [--update]] [--json <file>] [--project-dir <dir>]`: the diff of every phase stack. */
import { parseFlags, runMain, stackName } from "../cli";

const usage = "usage: npm run preview -- [--stack <name>] [--render [--update]] [--json <file>] [--project-dir <dir>]";

export async function main(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  const spec = { stack: { type: "string" }, render: { type: "boolean" }, update: { type: "boolean" }, json: { type: "string" }, "project-dir": { type: "string" } } as const;
  const flags = parseFlags(argv, spec, usage);
  const stack = stackName(flags.stack);
  // Loaded after the flags are checked: `--help` and mistakes answer without loading the Pulumi SDKs.
  const { previewCommand } = await import("../preview");
  return previewCommand({ stack, render: flags.render, update: flags.update, json: flags.json, projectDir: flags["project-dir"], log });
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
