import * as fs from "node:fs";
import * as path from "node:path";

/** A file a generator owns (whole or in part) and the text it should hold now. */
export interface GeneratedFile {
  readonly file: string;
  readonly text: string;
}

/**
 * The command line of a generator: with `--write` writes every file; without, reports each stale one
 * (naming `command`, which regenerates it) and sets exit code 1.
 */
export function writeOrCheck(files: readonly GeneratedFile[], command: string, argv: readonly string[] = process.argv): void {
  for (const { file, text } of files) {
    const shown = path.relative(process.cwd(), file);
    const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (argv.includes("--write")) {
      fs.writeFileSync(file, text);
      console.log(`wrote ${shown}`);
    } else if (current !== text) {
      console.error(`${shown} is out of date: run ${command}`);
      process.exitCode = 1;
    } else {
      console.log(`${shown} is up to date`);
    }
  }
}
