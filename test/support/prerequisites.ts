import { spawnSync } from "node:child_process";
import { servicesUnavailableReason } from "../../scripts/services/testServices";
import { repoRoot } from "./pipelineStack";
import { skipOrFailInCI } from "./skips";

/** Why the Pulumi toolchain cannot be used here, or undefined (`make toolchain` builds it; `make test-setup` does in CI). */
export function toolchainMissingReason(): string | undefined {
  const check = spawnSync("bash", ["scripts/toolchain.sh", "check"], { cwd: repoRoot, encoding: "utf8" });
  return check.status === 0 ? undefined : "the Pulumi toolchain is not built (run `make toolchain`)";
}

/**
 * Whether a suite that drives the real pipeline can run here: the toolchain, and the tracking
 * services when it needs them. Where one is missing the suite is skipped with the reason printed,
 * and in CI it fails with that reason instead (test/support/skips.ts).
 */
export function canRunPipelineSuite(suite: string, needs: { services: boolean }): boolean {
  const missing = [toolchainMissingReason(), needs.services ? servicesUnavailableReason() : undefined].filter((m) => m !== undefined);
  return !skipOrFailInCI(suite, missing.length > 0 ? missing.join("; ") : undefined);
}
