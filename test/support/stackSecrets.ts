import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { projectName } from "../../driver/phaseStack";
import { pulumiWorkspace } from "../../driver/pulumiEnv";
import { phaseStackName } from "../../programs/context";
import { repoRoot } from "./pipelineStack";

/** One phase stack of a pipeline stack, on the repo's backend, to read its outputs or export its state. */
async function phaseStack(stack: string, phase: "tracking" | "serving"): Promise<Stack> {
  const workspace = await pulumiWorkspace(repoRoot);
  return LocalWorkspace.selectStack({ stackName: phaseStackName(stack, phase), projectName, program: async () => ({}) }, workspace);
}

/** A pipeline stack's tracking phase stack. */
export const trackingStack = (stack: string): Promise<Stack> => phaseStack(stack, "tracking");

/** The inference API key the deploy phase holds (its secret output `servingApiKey`), or undefined when serving.auth is off. */
export async function servingApiKeyOf(stack: string): Promise<string | undefined> {
  const value = (await (await phaseStack(stack, "serving")).outputs()).servingApiKey?.value;
  return typeof value === "string" ? value : undefined;
}

/** The passwords the stack generated (the tracking phase's secret output `generatedSecrets`), in plain text. */
export async function generatedSecretsOf(stack: string): Promise<{ secret: boolean; values: Record<string, string> }> {
  const output = (await (await trackingStack(stack)).outputs()).generatedSecrets;
  if (!output) throw new Error(`stack ${phaseStackName(stack, "tracking")} has no generatedSecrets output: did its init phase run?`);
  return { secret: output.secret, values: output.value as Record<string, string> };
}
