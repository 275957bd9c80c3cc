import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { projectName } from "../../driver/phaseStack";
import { pulumiWorkspace } from "../../driver/pulumiEnv";
import { phaseStackName } from "../../programs/context";
import { repoRoot } from "./pipelineStack";

/** A pipeline stack's tracking phase stack, on the repo's backend, to read its outputs or export its state. */
export async function trackingStack(stack: string): Promise<Stack> {
  const workspace = await pulumiWorkspace(repoRoot);
  return LocalWorkspace.selectStack({ stackName: phaseStackName(stack, "tracking"), projectName, program: async () => ({}) }, workspace);
}

/** The passwords the stack generated (the tracking phase's secret output `generatedSecrets`), in plain text. */
export async function generatedSecretsOf(stack: string): Promise<{ secret: boolean; values: Record<string, string> }> {
  const output = (await (await trackingStack(stack)).outputs()).generatedSecrets;
  if (!output) throw new Error(`stack ${phaseStackName(stack, "tracking")} has no generatedSecrets output: did its init phase run?`);
  return { secret: output.secret, values: output.value as Record<string, string> };
}
