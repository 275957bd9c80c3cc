import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { metricNames } from "../../config";
import { generatedFiles, readContract } from "../../config/trainerContractCodegen";
import { mlflowTags } from "../../components/shared/studySpec";
import { optunaStorageVars } from "../../components/shared/optunaStorage";
import { progressMetrics } from "../../programs/trainProgress";

/**
 * config/trainerContract.json owns the names TypeScript and the trainer share: both sides' constants are
 * generated from it, and neither side spells one of its names as a literal of its own.
 */

const root = path.resolve(__dirname, "../..");
const contract = readContract() as unknown as {
  mlflowTags: Record<string, string>;
  trialAttributes: Record<string, string>;
  env: Record<string, string>;
  metrics: Record<string, string>;
  progressMetrics: Record<string, string>;
};

/** Source files of a folder (recursively), without tests and generated copies. */
function sources(dir: string, ext: string): string[] {
  return fs.readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" }).flatMap((rel) => {
    const file = path.join(dir, rel);
    const excluded = /(^|\/)tests?\/|\.test\.ts$|trainerContract|contract\.py$|__pycache__/.test(file);
    return file.endsWith(ext) && !excluded ? [file] : [];
  });
}

describe("the trainer contract (config/trainerContract.json)", () => {
  it("config/trainerContract.ts and images/trainer/contract.py are what the generator writes now (npx tsx config/trainerContractCodegen.ts --write)", () => {
    for (const { file, text } of generatedFiles()) expect(fs.readFileSync(file, "utf8"), path.relative(root, file)).toBe(text);
  });

  it("the TypeScript side reads it", () => {
    expect(mlflowTags).toEqual(contract.mlflowTags);
    expect(progressMetrics).toEqual(contract.progressMetrics);
    expect(optunaStorageVars.storage).toBe(contract.env.optunaStorage);
    expect(optunaStorageVars.createFrom).toBe(contract.env.optunaCreateFrom);
    expect([metricNames.cvMean("f1_macro"), metricNames.cvFold("accuracy", 2), metricNames.cvPartialMean("roc_auc_ovr")]).toEqual([
      "cv_f1_macro_mean",
      "cv_accuracy_fold_2",
      "cv_roc_auc_ovr_partial_mean",
    ]);
  });

  it("no TypeScript or trainer source spells one of its names as a literal of its own", () => {
    const templates = Object.values(contract.metrics).filter((name) => name.includes("{"));
    const names = [contract.mlflowTags, contract.trialAttributes, contract.env, contract.progressMetrics].flatMap((group) => Object.values(group));
    const fixed = [...names, ...Object.values(contract.metrics).filter((name) => !templates.includes(name))];
    const files = [...["components", "config", "programs", "driver"].flatMap((dir) => sources(dir, ".ts")), "index.ts", ...sources("images/trainer", ".py")];
    const copies: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      for (const name of fixed) if (text.includes(`"${name}"`) || text.includes(`'${name}'`)) copies.push(`${file}: "${name}"`);
      // A template spelled out: `cv_${scoring}_mean` in TypeScript, `f"cv_{scoring}_mean"` in Python.
      for (const template of templates) {
        if (text.includes(template.replace(/\{/g, "${")) || text.includes(`f"${template}"`)) copies.push(`${file}: ${template}`);
      }
    }
    expect(copies).toEqual([]);
  });
});
