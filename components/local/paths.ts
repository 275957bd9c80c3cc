import * as path from "node:path";
import { shortHash } from "../shared/trialKey";

/**
 * Where the local platform keeps its files: all under `<workDir>/.pipeline/` (git-ignored), logs and
 * pid files per stack so two stacks (e.g. `local` and a test's) never share a process.
 */
export interface LocalPaths {
  readonly workDir: string;
  readonly stateDir: string;
  readonly logDir: string;
  readonly runDir: string;
  /** The last pipeline run's record, one file per stack: two stacks' pipelines may run at the same time. */
  readonly runRecord: string;
  /** The interpreter of the trainer and the model servers: the project's venv, or the stack's workload venv when it has requirements. */
  readonly python: string;
  /** The venv `python` belongs to when the stack has `training.requirements` (scripts/workload-venv.sh builds it), else undefined. */
  readonly workloadVenv?: string;
  readonly mlflow: string;
}

/** One venv per set of pins, shared by every stack that asks for the same ones. */
export const workloadVenvDir = (stateDir: string, requirements: readonly string[]) => path.join(stateDir, "venvs", shortHash([...requirements].sort(), 16));

export function localPaths(workDir: string, stack: string, requirements: readonly string[] = [], venvDir = path.join(workDir, ".venv")): LocalPaths {
  const stateDir = path.join(workDir, ".pipeline");
  const workloadVenv = requirements.length === 0 ? undefined : workloadVenvDir(stateDir, requirements);
  return {
    workDir,
    stateDir,
    logDir: path.join(stateDir, "logs", stack),
    runDir: path.join(stateDir, "run", stack),
    runRecord: path.join(stateDir, "last-run", `${stack}.json`),
    python: path.join(workloadVenv ?? venvDir, "bin", "python"),
    ...(workloadVenv === undefined ? {} : { workloadVenv }),
    mlflow: path.join(venvDir, "bin", "mlflow"),
  };
}

/** Resolves a user path from config relative to the project directory. */
export const resolveIn = (workDir: string, p: string) => (path.isAbsolute(p) ? p : path.join(workDir, p));
