import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, type ConfigProblem, locateStackKey, type StackConfig } from "../config";
import type { LocalPaths } from "../components/local/paths";
import { fileSha256, localDataFile, planStudy, shortHash } from "../components/shared";
import { UserError } from "./cli";
import { PhaseProgress } from "./progress";

/**
 * What only Python can tell about a stack's model and data, checked before any phase starts: the
 * estimator imports and is one, every tuned parameter is one it takes, the scorer fits its task, the
 * target and the declared columns fit the data (images/trainer: `trainer.py check`). The stack's
 * extra packages are installed first (scripts/workload-venv.sh), because the check imports them.
 */

/** Where scripts/ and images/trainer live; the stack's own project may be elsewhere (--project-dir). */
const repoDir = path.resolve(__dirname, "..");

/** The trainer's Python files: a changed check is run again even for a study it passed. */
function trainerFingerprint(): string {
  const dir = path.join(repoDir, "images", "trainer");
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".py"))
    .sort();
  return shortHash(
    files.map((f) => [f, fileSha256(path.join(dir, f)).sha256]),
    24,
  );
}

/** What the trainer's check prints on success. */
export interface PreflightReport {
  readonly task: string;
  readonly estimator: string;
  readonly acceptedParams?: readonly string[];
  readonly rows?: number;
}

type CheckAnswer = ({ readonly ok: true } & PreflightReport) | { readonly ok: false; readonly problems: readonly { readonly key: string; readonly message: string }[] };

/** A key of the trainer's spec as the user writes it under `mlops:training`. */
export function configKeyOf(specKey: string): string[] {
  const parts = specKey.split(".");
  const param = /^(search\.space|trials\[\d+\]\.params)\.(.+)$/.exec(specKey);
  if (param?.[2]) return ["training", "searchSpace", param[2]];
  if (specKey === "dataset.groupColumn") return ["training", "cv", "groupColumn"];
  if (specKey === "codePath") return ["training", "code"];
  return ["training", ...parts];
}

/** The trainer's problems as config problems at the user's keys, with lines when the key is written. */
export function preflightProblems(answer: Extract<CheckAnswer, { ok: false }>, locate: ReturnType<typeof locateStackKey>): ConfigProblem[] {
  return answer.problems.map((problem) => {
    const key = configKeyOf(problem.key);
    const line = locate.line(key);
    return { file: locate.file, key: `mlops:${key.join(".")}`, message: problem.message, ...(line === undefined ? {} : { line }) };
  });
}

function run(command: string, args: readonly string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", maxBuffer: 16 << 20 });
  if (result.error) throw new UserError(`${command}: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Builds the stack's workload venv when it has requirements (once per set of pins). */
export function ensureWorkloadVenv(paths: LocalPaths, requirements: readonly string[], projectDir: string, progress: PhaseProgress): void {
  if (paths.workloadVenv === undefined || requirements.length === 0) return;
  progress.step(`installing ${requirements.join(" ")} beside the project's venv (${path.relative(projectDir, paths.workloadVenv)})`);
  // The script's own lines ([workload-venv] ..., pip's errors) go out as they come: pip may take a while.
  const result = spawnSync("bash", [path.join(repoDir, "scripts", "workload-venv.sh"), paths.workloadVenv, ...requirements], {
    cwd: projectDir,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.error) throw new UserError(`scripts/workload-venv.sh: ${result.error.message}`);
  if (result.status !== 0) throw new UserError(`mlops:training.requirements: could not install ${requirements.join(" ")} (scripts/workload-venv.sh exited ${result.status})`);
}

/** Runs `trainer.py check` on the study this config plans; throws a ConfigError naming the stack file's keys. */
export function preflight(stack: string, config: StackConfig, paths: LocalPaths, projectDir: string, write?: (line: string) => void): PreflightReport {
  const progress = new PhaseProgress("preflight", write);
  ensureWorkloadVenv(paths, config.training.requirements, projectDir, progress);
  const plan = planStudy(stack, config.training);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlops-preflight-"));
  try {
    const spec = path.join(dir, "study.json");
    const content = JSON.stringify({ ...plan.study, trials: plan.trials });
    // The study id covers the config, the data and the user's code; the trainer's own files, the pins.
    const stamp = path.join(paths.stateDir, "preflight", `${shortHash({ content, trainer: trainerFingerprint(), python: paths.python }, 24)}.json`);
    if (fs.existsSync(stamp)) {
      const report = JSON.parse(fs.readFileSync(stamp, "utf8")) as PreflightReport;
      progress.step(`ok: ${report.estimator} (${report.task}), as checked before for this study and trainer`);
      return report;
    }
    fs.writeFileSync(spec, content);
    // Data only the workers can read (s3://, a path inside their containers) is checked as they load it.
    const dataHere = config.training.dataset.source === "generated" || localDataFile(config.training.dataset.source, projectDir) !== undefined;
    progress.step(
      `checking the model${dataHere ? " and the data" : ` (the workers check ${config.training.dataset.source})`} in Python (${path.relative(projectDir, paths.python)})`,
    );
    const result = run(paths.python, [path.join(repoDir, "images", "trainer", "trainer.py"), "check", "--spec", spec, ...(dataHere ? [] : ["--skip-data"])], projectDir);
    const answer = parseAnswer(result.stdout);
    if (answer === undefined) throw new UserError(`trainer.py check exited ${result.status} without an answer: ${result.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    if (!answer.ok) throw new ConfigError(preflightProblems(answer, locateStackKey(projectDir, stack)));
    progress.step(`ok: ${answer.estimator} (${answer.task})${answer.rows === undefined ? "" : `, ${answer.rows} rows`}`);
    fs.mkdirSync(path.dirname(stamp), { recursive: true });
    fs.writeFileSync(stamp, JSON.stringify(answer));
    return answer;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function isAnswer(value: unknown): value is CheckAnswer {
  if (typeof value !== "object" || value === null || !("ok" in value)) return false;
  return value.ok === true ? "task" in value && "estimator" in value : "problems" in value && Array.isArray(value.problems);
}

/** The last line of stdout that is a JSON object with `ok`: the trainer's answer. */
function parseAnswer(stdout: string): CheckAnswer | undefined {
  for (const line of stdout.trim().split("\n").reverse()) {
    try {
      const value: unknown = JSON.parse(line);
      if (isAnswer(value)) return value;
    } catch {
      // progress or library output before the answer
    }
  }
  return undefined;
}
