import * as fs from "node:fs";
import * as path from "node:path";
import { type GeneratedFile, writeOrCheck } from "./generatedFile";

/**
 * config/trainerContract.json is the one home of the names TypeScript and the trainer share (MLflow tags,
 * Optuna trial attributes, trial queues, environment variables, metric name templates). This turns it into
 * each side's constants: config/trainerContract.ts (literal types) and images/trainer/contract.py (the
 * image copies `*.py`, so the trainer needs no data file at run time).
 *
 *   npx tsx config/trainerContractCodegen.ts [--write]     (without --write: exit 1 when a file is stale)
 */

type Contract = Record<string, unknown> & { readonly $comment: string };

const root = path.resolve(__dirname, "..");
export const contractSource = path.join(root, "config", "trainerContract.json");

export function readContract(): Contract {
  return JSON.parse(fs.readFileSync(contractSource, "utf8")) as Contract;
}

const groups = (contract: Contract) => Object.entries(contract).filter(([name]) => !name.startsWith("$"));
const str = (value: unknown) => JSON.stringify(value);
/** `studyId` -> `STUDY_ID`. */
const upperSnake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
/** The Python constant's prefix per group. */
const pythonPrefix: Readonly<Record<string, string>> = { mlflowTags: "TAG", trialAttributes: "ATTR", env: "ENV", metrics: "METRIC", progressMetrics: "PROGRESS" };

export function renderTypeScript(contract: Contract): string {
  const body = groups(contract).map(([name, value]) => {
    if (Array.isArray(value)) return `  ${name}: [${value.map(str).join(", ")}],`;
    const entries = Object.entries(value as Record<string, unknown>).map(([key, v]) => `    ${key}: ${str(v)},`);
    return [`  ${name}: {`, ...entries, "  },"].join("\n");
  });
  return [
    "// GENERATED from config/trainerContract.json by `npx tsx config/trainerContractCodegen.ts --write`: do not edit by hand.",
    "",
    "/** The names TypeScript and the trainer (images/trainer/contract.py) share. */",
    "export const trainerContract = {",
    ...body,
    "} as const;",
    "",
  ].join("\n");
}

export function renderPython(contract: Contract): string {
  const lines = groups(contract).flatMap(([name, value]) => {
    if (Array.isArray(value)) return ["", `${upperSnake(name)} = (${value.map(str).join(", ")})`];
    const prefix = pythonPrefix[name];
    if (!prefix) throw new Error(`config/trainerContract.json: group '${name}' has no Python prefix in config/trainerContractCodegen.ts`);
    return ["", ...Object.entries(value as Record<string, unknown>).map(([key, v]) => `${prefix}_${upperSnake(key)} = ${str(v)}`)];
  });
  return [
    '"""GENERATED from config/trainerContract.json by `npx tsx config/trainerContractCodegen.ts --write`: do not edit by hand.',
    "",
    "The names the trainer shares with the TypeScript side (config/trainerContract.ts). Metric names are",
    'templates: `METRIC_CV_MEAN.format(scoring="f1_macro")`."""',
    ...lines,
    "",
  ].join("\n");
}

/** Each generated file and what it should hold now. */
export function generatedFiles(contract: Contract = readContract()): GeneratedFile[] {
  return [
    { file: path.join(root, "config", "trainerContract.ts"), text: renderTypeScript(contract) },
    { file: path.join(root, "images", "trainer", "contract.py"), text: renderPython(contract) },
  ];
}

if (require.main === module) writeOrCheck(generatedFiles(), "npx tsx config/trainerContractCodegen.ts --write");
