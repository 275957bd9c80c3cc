/**
 * Serializes a dynamic provider the way `pulumi.dynamic.Resource` does (by value, with every
 * function it calls) and writes the module text to a file, so a test can load it in a plain Node
 * process without tsx, as Pulumi's provider process does.
 *
 *   node --import tsx test/support/serializeDynamicProvider.ts <module.ts> <exportName> <out.js>
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

async function main(): Promise<void> {
  const [modulePath, exportName, outFile] = process.argv.slice(2);
  if (!modulePath || !exportName || !outFile) throw new Error("usage: serializeDynamicProvider.ts <module.ts> <exportName> <out.js>");
  const mod = (await import(path.resolve(modulePath))) as Record<string, unknown>;
  const provider = mod[exportName];
  if (typeof provider !== "object" || provider === null) throw new Error(`${modulePath} exports no object ${exportName}`);
  const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  fs.writeFileSync(outFile, serialized.text);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
