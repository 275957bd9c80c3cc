/** `npm run pipeline -- [--stack <name>] [--phase init|train|select|deploy] [--metrics <file>] [--destroy]` */
import { runMain } from "../cli";
import { runPipeline } from "../pipeline";
import { parsePipelineArgs } from "../pipelineArgs";

export const main = (argv: readonly string[]) => runPipeline(parsePipelineArgs(argv));

if (require.main === module) runMain(() => main(process.argv.slice(2)));
