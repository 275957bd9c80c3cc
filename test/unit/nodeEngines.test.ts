import * as fs from "node:fs";
import * as path from "node:path";
import * as semver from "semver";
import { describe, expect, it } from "vitest";

/**
 * The Node.js versions package.json promises (`engines.node`, what the README tells users to
 * install) must be ones every locked package accepts, or `npm ci` warns EBADENGINE and a package
 * may fail at run time (e.g. @pulumi/pulumi 3.249+ requires Node >= 22).
 */

const root = path.resolve(__dirname, "../..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { engines?: { node?: string } };
const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean }>;
};
const ours = pkg.engines?.node ?? "";

describe("Node.js version: package.json engines, the lockfile and this machine agree", () => {
  it("package.json names a valid engines.node range, and package-lock.json records the same", () => {
    expect(semver.validRange(ours), `package.json engines.node '${ours}'`).not.toBeNull();
    expect(lock.packages[""]?.engines).toEqual(pkg.engines);
  });

  it("every locked package accepts every Node version package.json allows", () => {
    const refusing = Object.entries(lock.packages)
      .filter(([name]) => name !== "")
      .flatMap(([name, entry]) => {
        // Very old packages wrote engines as an array; npm ignores that form.
        const theirs = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        if (theirs === undefined || semver.subset(ours, theirs)) return [];
        return [`${name.replace(/^.*node_modules\//, "")}@${entry.version}: engines.node '${theirs}'${entry.optional ? " (optional)" : ""}`];
      });
    expect(refusing, `packages that refuse part of '${ours}' (pin an older version, or narrow engines.node and the README):\n${refusing.join("\n")}`).toEqual([]);
  });

  it("the Node.js running the tests is one package.json allows", () => {
    expect(semver.satisfies(process.version, ours), `node ${process.version} vs engines.node '${ours}'`).toBe(true);
  });
});
