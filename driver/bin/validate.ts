/** `npm run validate -- [--stack <name>] [--metrics <file>] [--project-dir <dir>]`: checks the config files, touches nothing. */
import { runMain } from "../cli";
import { parseValidateArgs, validate } from "../validate";

export function main(argv: readonly string[], log: (line: string) => void = console.log): void {
  for (const line of validate(parseValidateArgs(argv))) log(line);
}

if (require.main === module) runMain(() => main(process.argv.slice(2)));
