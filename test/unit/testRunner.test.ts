import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

// scripts/test.sh runs the end-to-end and cluster tiers side by side (side_by_side): both run to their
// end, every line says which tier wrote it, and the run fails with the first failing tier's exit code.
const script = path.resolve(__dirname, "..", "..", "scripts", "test.sh");

function sideBySide(body: string) {
  const program = `set -euo pipefail\nsource <(sed -n '/^side_by_side()/,/^}/p' '${script}')\n${body}`;
  return spawnSync("bash", ["-c", program], { encoding: "utf8", timeout: 30_000 });
}

describe("scripts/test.sh side_by_side", () => {
  it("runs the tiers at the same time and prefixes each line with its tier", () => {
    const res = sideBySide(`slow() { echo start; sleep 1; echo end; }\nfast() { echo only; }\nstarted=$SECONDS\nside_by_side slow fast\necho "took $((SECONDS - started))"`);
    expect(res.status, res.stderr).toBe(0);
    const lines = res.stdout.trim().split("\n");
    expect(lines).toEqual(expect.arrayContaining(["[slow] start", "[slow] end", "[fast] only"]));
    // The fast tier's line comes before the slow tier ends: they ran at the same time.
    expect(lines.indexOf("[fast] only")).toBeLessThan(lines.indexOf("[slow] end"));
    expect(lines.at(-1)).toMatch(/^took [01]$/);
  });

  it("lets the other tier finish when one fails, and fails with the failing tier's code", () => {
    const res = sideBySide(`broken() { echo before; return 3; echo never; }\nhealthy() { sleep 1; echo done; }\nside_by_side broken healthy\necho unreachable`);
    expect(res.status).toBe(3);
    expect(res.stdout).toContain("[healthy] done");
    expect(res.stdout).not.toContain("never");
    expect(res.stdout).not.toContain("unreachable");
    expect(res.stderr).toContain("=== tests: broken FAILED (exit 3)");
  });
});
