/** `npm run select -- [--stack <name>] [--metrics <file>]`: the select phase alone, on the recorded init and train outputs. */
import { runMain } from "../cli";
import { parseSelectArgs } from "../pipelineArgs";

export async function main(argv: readonly string[]): Promise<void> {
  const args = parseSelectArgs(argv);
  // Loaded after the flags are checked: `--help` and mistakes answer without loading the Pulumi SDKs.
  const { runPipeline } = await import("../pipeline");
  await runPipeline(args);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
