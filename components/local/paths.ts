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
    python: path.join(venvDir, "bin", "python"),
    mlflow: path.join(venvDir, "bin", "mlflow"),
  };
}

/** Resolves a user path from config relative to the project directory. */
export const resolveIn = (workDir: string, p: string) => (path.isAbsolute(p) ? p : path.join(workDir, p));
