import * as path from "node:path";

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
  readonly python: string;
  readonly mlflow: string;
}

export function localPaths(workDir: string, stack: string, venvDir = path.join(workDir, ".venv")): LocalPaths {
  const stateDir = path.join(workDir, ".pipeline");
  return {
    workDir,
    stateDir,
    logDir: path.join(stateDir, "logs", stack),
    runDir: path.join(stateDir, "run", stack),
    runRecord: path.join(stateDir, "last-run", `${stack}.json`),
    python: path.join(venvDir, "bin", "python"),
    mlflow: path.join(venvDir, "bin", "mlflow"),
  };
}

/** Resolves a user path from config relative to the project directory. */
export const resolveIn = (workDir: string, p: string) => (path.isAbsolute(p) ? p : path.join(workDir, p));
