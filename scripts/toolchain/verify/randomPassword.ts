// Proves the random plugin works offline the way the tracking phase uses it: an Automation-API inline
// program creates a random.RandomPassword on a throwaway file backend, reads it back as a secret output,
// and a second `up` keeps it. Run by scripts/toolchain.sh after installing the plugin, and by
// test/integration/toolchain.test.ts.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { probeStack } from "./probeStack";

export interface RandomProbeResult {
  readonly password: string;
  readonly secretOutput: boolean;
  readonly secondPassword: string;
  readonly secondRunChanges: number;
  /** Every state file of the throwaway backend, as stored: the password must appear there only as ciphertext. */
  readonly state: string;
  readonly pluginVersion: string;
}

export async function randomPasswordProbe(repoDir: string, workDir: string): Promise<RandomProbeResult> {
  const stack = await probeStack(repoDir, workDir, async () => {
    const password = new random.RandomPassword("probe", { length: 24, special: false });
    return { password: pulumi.secret(password.result) };
  });
  try {
    const first = await stack.up({ color: "never" });
    const second = await stack.up({ color: "never" });
    const changes = Object.entries(second.summary.resourceChanges ?? {}).reduce((n, [op, count]) => (op === "same" ? n : n + (count ?? 0)), 0);
    // Read the files, not `exportStack()`: the Automation API exports with --show-secrets.
    const stateDir = path.join(workDir, "state");
    const state = fs
      .readdirSync(stateDir, { recursive: true, encoding: "utf8" })
      .map((f) => path.join(stateDir, f))
      .filter((f) => fs.statSync(f).isFile())
      .map((f) => fs.readFileSync(f, "utf8"))
      .join("\n");
    const plugins = await stack.workspace.listPlugins();
    return {
      password: String(first.outputs.password?.value ?? ""),
      secretOutput: first.outputs.password?.secret === true,
      secondPassword: String(second.outputs.password?.value ?? ""),
      secondRunChanges: changes,
      state,
      pluginVersion: plugins.find((p) => p.name === "random" && p.kind === "resource")?.version ?? "",
    };
  } finally {
    await stack.destroy({ color: "never" });
  }
}

if (require.main === module) {
  const repoDir = path.resolve(__dirname, "../../..");
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-random-"));
  randomPasswordProbe(repoDir, workDir)
    .then((r) => {
      const ok = r.password.length === 24 && r.secretOutput && r.secondPassword === r.password && r.secondRunChanges === 0 && !r.state.includes(r.password);
      if (!ok) throw new Error(`random plugin probe failed: ${JSON.stringify({ ...r, password: "<redacted>", secondPassword: "<redacted>", state: "<omitted>" })}`);
      console.log(`random plugin v${r.pluginVersion}: RandomPassword created, kept on a second up, only encrypted in the state`);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    })
    .finally(() => fs.rmSync(workDir, { recursive: true, force: true }));
}
