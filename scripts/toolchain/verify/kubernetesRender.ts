// Proves the kubernetes plugin works offline: an Automation-API inline program declares a k8s.Provider
// that renders YAML to a folder (no cluster), plus a ConfigMap and a Deployment, and runs `up`.
// Run by scripts/toolchain.sh after installing the plugin, and by test/integration/toolchain.test.ts.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { probeStack } from "./probeStack";

export interface RenderResult {
  /** Rendered manifest files, relative to the render folder. */
  readonly files: string[];
  /** Kinds and names found in the rendered YAML, e.g. "ConfigMap/probe-settings-...". */
  readonly manifests: string[];
  readonly pluginVersion: string;
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

/** Renders into `<workDir>/rendered`, keeping its own throwaway state under `workDir`. */
export async function renderKubernetesProbe(repoDir: string, workDir: string): Promise<RenderResult> {
  const renderDir = path.join(workDir, "rendered");
  const stack = await probeStack(repoDir, workDir, async () => {
    const provider = new k8s.Provider("render", { renderYamlToDirectory: renderDir });
    const labels = { app: "probe" };
    new k8s.core.v1.ConfigMap("probe-settings", { data: { greeting: "hello" } }, { provider });
    new k8s.apps.v1.Deployment(
      "probe",
      {
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "probe", image: "probe:local" }] } },
        },
      },
      { provider },
    );
    return {};
  });
  await stack.up({ color: "never" });
  const files = listFiles(renderDir).sort();
  const manifests = files.flatMap((file) => {
    const text = fs.readFileSync(path.join(renderDir, file), "utf8");
    const kind = /^kind: (\S+)/m.exec(text)?.[1];
    const name = /^ {2}name: (\S+)/m.exec(text)?.[1];
    return kind && name ? [`${kind}/${name}`] : [];
  });
  const plugins = await stack.workspace.listPlugins();
  const kubernetes = plugins.find((p) => p.name === "kubernetes");
  return { files, manifests, pluginVersion: kubernetes?.version ?? "" };
}

if (require.main === module) {
  const repoDir = path.resolve(__dirname, "../../..");
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-k8s-render-"));
  renderKubernetesProbe(repoDir, workDir)
    .then((result) => {
      if (!result.manifests.some((m) => m.startsWith("Deployment/")) || !result.manifests.some((m) => m.startsWith("ConfigMap/"))) {
        throw new Error(`expected a Deployment and a ConfigMap, rendered: ${result.files.join(", ") || "nothing"}`);
      }
      console.log(`rendered ${result.manifests.join(", ")} with kubernetes plugin v${result.pluginVersion}`);
      fs.rmSync(workDir, { recursive: true, force: true });
    })
    .catch((err: unknown) => {
      console.error(`kubernetes render probe failed (work folder kept: ${workDir}): ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    });
}
