/** `npm run select -- [--stack <name>] [--metrics <file>]`: the select phase alone, on the recorded init and train outputs. */
import { runMain } from "../cli";
import { runPipeline } from "../pipeline";
import { parseSelectArgs } from "../pipelineArgs";

export const main = (argv: readonly string[]) => runPipeline(parseSelectArgs(argv));

if (require.main === module) runMain(() => main(process.argv.slice(2)));
