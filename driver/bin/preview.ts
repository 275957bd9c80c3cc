/** `npm run preview -- [--stack <name>] [--render [--update]] [--json <file>] [--project-dir <dir>]`: the diff of every phase stack. */
import { parseFlags, runMain, stackName } from "../cli";
import { previewCommand } from "../preview";

const usage = "usage: npm run preview -- [--stack <name>] [--render [--update]] [--json <file>] [--project-dir <dir>]";

export function main(argv: readonly string[], log: (line: string) => void = console.log): Promise<number> {
  const spec = { stack: { type: "string" }, render: { type: "boolean" }, update: { type: "boolean" }, json: { type: "string" }, "project-dir": { type: "string" } } as const;
  const flags = parseFlags(argv, spec, usage);
  return previewCommand({ stack: stackName(flags.stack), render: flags.render, update: flags.update, json: flags.json, projectDir: flags["project-dir"], log });
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
