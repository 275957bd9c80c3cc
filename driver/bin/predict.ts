/** `npm run predict -- [--stack <name>] [--input '<json>']`: one prediction through the deployed load balancer. */
import { parseFlags, runMain, stackName, UsageError } from "../cli";
import { predictOnStack } from "../predict";

const usage = "usage: npm run predict -- [--stack <name>] [--input '<json>']   (default input: the champion's own example)";

function parseInput(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--input expects JSON such as '{"dataframe_records": [{"f0": 0.1, ...}]}', got ${text.slice(0, 80)}`, usage);
  }
}

export function main(argv: readonly string[]): Promise<void> {
  const flags = parseFlags(argv, { stack: { type: "string" }, input: { type: "string" } }, usage);
  return predictOnStack(stackName(flags.stack), parseInput(flags.input));
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
