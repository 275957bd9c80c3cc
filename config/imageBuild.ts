import * as path from "node:path";
import { ConfigError } from "./errors";
import { loadStackConfig } from "./load";
import type { ImagesConfig } from "./stackConfig";

/**
 * The flags of `scripts/docker/build-images.sh` that build the images a stack runs: its tag and
 * registry (what the stack's image references name), and its Python base when `images.pythonBase`
 * is set; unset, the script picks python:3.12-slim when the engine has it, else the Debian stand-in.
 *
 *   npx tsx config/imageBuild.ts --stack <name>    (what `make build-train` / `make build-prod` run)
 */
export function imageBuildFlags(images: ImagesConfig): string[] {
  return [...(images.pythonBase ? ["--base", images.pythonBase] : []), "--tag", images.tag, ...(images.registry ? ["--registry", images.registry] : [])];
}

if (require.main === module) {
  const at = process.argv.indexOf("--stack");
  const stack = at >= 0 ? process.argv[at + 1] : undefined;
  if (!stack) {
    console.error("usage: npx tsx config/imageBuild.ts --stack <name>");
    process.exit(2);
  }
  try {
    // The schema allows no spaces in these values, so the words survive the shell's splitting.
    console.log(imageBuildFlags(loadStackConfig(path.resolve(__dirname, ".."), stack).images).join(" "));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}
