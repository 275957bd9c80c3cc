/** `npm run predict -- [--stack <name>] [--input '<json>']`: one prediction through the deployed load balancer. */
import { parseFlags, runMain, stackName, UsageError } from "../cli";

const usage = "usage: npm run predict -- [--stack <name>] [--input '<json>']   (default input: the champion's own example)";

function parseInput(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`--input expects JSON such as '{"dataframe_records": [{"f0": 0.1, ...}]}', got ${text.slice(0, 80)}`, usage);
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const flags = parseFlags(argv, { stack: { type: "string" }, input: { type: "string" } }, usage);
  const [stack, input] = [stackName(flags.stack), parseInput(flags.input)];
  // Loaded after the flags are checked: `--help` and mistakes answer without loading the Pulumi SDKs.
  const { predictOnStack } = await import("../predict");
  await predictOnStack(stack, input);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
