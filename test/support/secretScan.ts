import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Where a secret shows up in plain text: files (logs, Pulumi state) and the command lines of every
 * process on the machine. Tests expect both lists empty.
 */

function filesUnder(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  if (fs.statSync(root).isFile()) return [root];
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

export function filesContaining(secret: string, roots: readonly string[]): string[] {
  if (secret.length < 8) throw new Error("refusing to scan for a secret shorter than 8 characters: every match would be noise");
  return roots.flatMap(filesUnder).filter((file) => {
    try {
      return fs.readFileSync(file).includes(secret);
    } catch {
      return false; // removed while we looked (a rotating log, a finished lock file)
    }
  });
}

/** `pid: command line` of every process whose arguments contain the secret. */
export function commandLinesContaining(secret: string): string[] {
  const hits: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmdline.includes(secret)) hits.push(`${pid}: ${cmdline.replaceAll("\0", " ").replaceAll(secret, "<secret>")}`);
    } catch {
      /* exited while we looked */
    }
  }
  return hits;
}
