/** `npm run pipeline -- [--stack <name>] [--phase init|train|select|deploy] [--metrics <file>] [--destroy]` */
import { runMain } from "../cli";
import { parsePipelineArgs } from "../pipelineArgs";

export async function main(argv: readonly string[]): Promise<void> {
  const args = parsePipelineArgs(argv);
  // Loaded after the flags are checked: `--help` and mistakes answer without loading the Pulumi SDKs.
  const { runPipeline } = await import("../pipeline");
  await runPipeline(args);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
