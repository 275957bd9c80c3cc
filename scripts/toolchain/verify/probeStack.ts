import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, type PulumiFn, type Stack } from "@pulumi/pulumi/automation";
import { pulumiWorkspace } from "../../../driver/pulumiEnv";

/**
 * The stack of a toolchain probe: an inline program on a throwaway file backend under `workDir`, with the
 * project's toolchain. A fixed passphrase is fine: nothing kept there is secret beyond the probe.
 */
export async function probeStack(repoDir: string, workDir: string, program: PulumiFn): Promise<Stack> {
  const stateDir = path.join(workDir, "state");
  fs.mkdirSync(stateDir, { recursive: true });
  const { PULUMI_CONFIG_PASSPHRASE_FILE: _userFile, ...inherited } = process.env;
  const env = { ...inherited, PULUMI_BACKEND_URL: `file://${stateDir}`, PULUMI_CONFIG_PASSPHRASE: "toolchain-probe" };
  const workspace = await pulumiWorkspace(repoDir, env);
  return LocalWorkspace.createOrSelectStack({ stackName: "probe", projectName: "mlops-toolchain-probe", program }, { ...workspace, workDir });
}
