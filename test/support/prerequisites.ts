import { spawnSync } from "node:child_process";
import { servicesUnavailableReason } from "../../scripts/services/testServices";
import { repoRoot } from "./pipelineStack";

/**
 * Whether a suite that drives the real pipeline can run here. Locally a missing prerequisite skips
 * the suite with its reason printed; in CI nothing is skipped: `make test` installs and builds what
 * is missing (the toolchain, PostgreSQL, SeaweedFS), and a failure to do so fails the suite.
 */
export function canRunPipelineSuite(suite: string, needs: { services: boolean }): boolean {
  const missing: string[] = [];
  if (spawnSync("bash", ["scripts/toolchain.sh", "check"], { cwd: repoRoot, encoding: "utf8" }).status !== 0)
    missing.push("the Pulumi toolchain is not built (run `make toolchain`)");
  const services = needs.services ? servicesUnavailableReason() : undefined;
  if (services) missing.push(services);
  if (missing.length === 0) return true;
  if (process.env.CI) {
    console.warn(`${suite}: running in CI although ${missing.join("; ")}: the suite's setup builds or installs it`);
    return true;
  }
  console.warn(`SKIPPED ${suite}: ${missing.join("; ")}; in CI this suite runs and a missing prerequisite fails it`);
  return false;
}
