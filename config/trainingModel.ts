import { type FeaturesConfig, declaredColumns } from "./trainingFeatures";
import { defaultScoring, type Scoring, scorersByTask, type Task, taskOfScoring } from "./scorers";
import { nearest } from "./suggest";

/**
 * What every trial fits, resolved once from `mlops:training`: an alias of a built-in scikit-learn
 * classifier, the import path of any class with the scikit-learn estimator API, or a factory in the
 * user's code. The trainer (images/trainer) builds it; this side only checks what can be known
 * without importing Python, and the trainer's preflight check (`trainer.py check`) does the rest.
 */

/** Short aliases kept from the first releases (their study ids are unchanged). */
export const modelFamilies = ["logistic_regression", "random_forest", "gradient_boosting"] as const;
export type ModelFamily = (typeof modelFamilies)[number];

export type ModelSource =
  | { readonly kind: "alias"; readonly name: ModelFamily }
  | { readonly kind: "class"; readonly path: string }
  | { readonly kind: "factory"; readonly ref: string };

export interface ResolvedModel {
  readonly model: ModelSource;
  readonly task: Task;
  readonly scoring: Scoring;
}

/** The raw keys of `mlops:training` this module reads. */
export interface ModelKeys {
  readonly estimator?: string;
  readonly factory?: string;
  readonly modelFamily?: ModelFamily;
  readonly task?: Task;
  readonly scoring?: string;
  readonly requirements: readonly string[];
  readonly cv: { readonly groupColumn?: string };
  readonly dataset: { readonly target: string; readonly features?: FeaturesConfig };
}

const importPath = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/;
const factoryRef = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$/;
/** `name==version` (an extra in brackets allowed): anything looser would install another version tomorrow. */
const exactPin = /^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*$/;

const isAlias = (name: string): name is ModelFamily => (modelFamilies as readonly string[]).includes(name);

/** The source named by the keys; meaningful only once `trainingModelProblems` found none. */
export function modelSourceOf(keys: Pick<ModelKeys, "estimator" | "factory" | "modelFamily">): ModelSource {
  if (keys.factory !== undefined) return { kind: "factory", ref: keys.factory };
  const name = keys.estimator ?? keys.modelFamily ?? "random_forest";
  return isAlias(name) ? { kind: "alias", name } : { kind: "class", path: name };
}

/** One string per model, in trial keys and the study id: an alias and a path hash as before, a factory apart from both. */
export function modelId(model: ModelSource): string {
  return model.kind === "alias" ? model.name : model.kind === "class" ? model.path : `factory:${model.ref}`;
}

/** The task the config states or implies; undefined when only Python can tell (an import path without task or scoring). */
function statedTask(keys: ModelKeys, model: ModelSource): Task | undefined {
  return keys.task ?? (keys.scoring === undefined ? undefined : taskOfScoring(keys.scoring)) ?? (model.kind === "alias" ? "classification" : undefined);
}

export function resolveModel(keys: ModelKeys): ResolvedModel {
  const model = modelSourceOf(keys);
  const task = statedTask(keys, model) ?? "classification";
  return { model, task, scoring: keys.scoring ?? defaultScoring[task] };
}

export interface KeyProblem {
  readonly path: (string | number)[];
  readonly message: string;
  readonly input?: unknown;
}

const sample = (task: Task) => `${scorersByTask[task].slice(0, 4).join(", ")}, ...`;

function scoringProblems(keys: ModelKeys, model: ModelSource): KeyProblem[] {
  if (keys.scoring === undefined) return [];
  const scoringTask = taskOfScoring(keys.scoring);
  if (scoringTask === undefined) {
    const guess = nearest(keys.scoring, [...scorersByTask.classification, ...scorersByTask.regression]);
    return [
      {
        path: ["scoring"],
        input: keys.scoring,
        message: `expected a scikit-learn scorer${guess ? ` (did you mean ${guess}?)` : ""}: for classification ${sample("classification")}; for regression ${sample("regression")} (all in config/scorers.json)`,
      },
    ];
  }
  const wanted = keys.task ?? (model.kind === "alias" ? "classification" : undefined);
  if (wanted !== undefined && wanted !== scoringTask)
    return [{ path: ["scoring"], input: keys.scoring, message: `expected a ${wanted} scorer (${sample(wanted)}), got ${keys.scoring}, which scores ${scoringTask}` }];
  return [];
}

function sourceProblems(keys: ModelKeys): KeyProblem[] {
  const problems: KeyProblem[] = [];
  if (keys.estimator !== undefined && keys.factory !== undefined)
    problems.push({ path: ["factory"], input: keys.factory, message: "expected either estimator or factory, not both" });
  if (keys.modelFamily !== undefined && (keys.estimator !== undefined || keys.factory !== undefined))
    problems.push({ path: ["modelFamily"], input: keys.modelFamily, message: "expected no modelFamily beside estimator or factory: modelFamily is the former name of estimator" });
  if (keys.estimator !== undefined && !isAlias(keys.estimator) && !importPath.test(keys.estimator)) {
    const guess = nearest(keys.estimator, modelFamilies);
    problems.push({
      path: ["estimator"],
      input: keys.estimator,
      message: `expected one of ${modelFamilies.join(", ")}${guess ? ` (did you mean ${guess}?)` : ""}, or the import path of a scikit-learn-API class such as sklearn.svm.SVC`,
    });
  }
  if (keys.factory !== undefined && !factoryRef.test(keys.factory))
    problems.push({ path: ["factory"], input: keys.factory, message: "expected <module>:<function>, e.g. my_models:build_pipeline" });
  return problems;
}

function taskProblems(keys: ModelKeys, model: ModelSource): KeyProblem[] {
  if (model.kind === "alias" && keys.task === "regression")
    return [
      { path: ["task"], input: keys.task, message: `expected classification: ${model.name} is a classifier; name a regressor with estimator, e.g. sklearn.linear_model.Ridge` },
    ];
  if (statedTask(keys, model) === undefined)
    return [
      {
        path: ["task"],
        message: `expected classification or regression, or a scoring that implies one: the task of ${modelId(model)} is known only once Python imports it (npm run validate reports it)`,
      },
    ];
  return [];
}

function requirementProblems(requirements: readonly string[]): KeyProblem[] {
  const seen = new Set<string>();
  return requirements.flatMap((pin, index): KeyProblem[] => {
    const match = exactPin.exec(pin);
    if (!match?.[1]) return [{ path: ["requirements", index], input: pin, message: "expected an exact pin such as xgboost==3.0.5 (name==version; no ranges, no unpinned names)" }];
    const name = match[1].toLowerCase().replace(/[-_.]+/g, "-");
    if (seen.has(name)) return [{ path: ["requirements", index], input: pin, message: `expected each package once: ${match[1]} is pinned twice` }];
    seen.add(name);
    return [];
  });
}

function columnProblems(keys: ModelKeys): KeyProblem[] {
  const declared = keys.dataset.features === undefined ? [] : declaredColumns(keys.dataset.features);
  const problems: KeyProblem[] = [];
  if (declared.includes(keys.dataset.target))
    problems.push({ path: ["dataset", "features"], message: `expected the target column ${JSON.stringify(keys.dataset.target)} in no features list` });
  const group = keys.cv.groupColumn;
  if (group !== undefined && (group === keys.dataset.target || declared.includes(group)))
    problems.push({ path: ["cv", "groupColumn"], input: group, message: "expected a column that is neither the target nor a declared feature: groups only decide the folds" });
  return problems;
}

/** Everything wrong with the model keys that can be told without Python, each at its key. */
export function trainingModelProblems(keys: ModelKeys): KeyProblem[] {
  const sourceIssues = sourceProblems(keys);
  const model = modelSourceOf(keys);
  return [
    ...sourceIssues,
    ...(sourceIssues.length > 0 ? [] : [...scoringProblems(keys, model), ...taskProblems(keys, model)]),
    ...requirementProblems(keys.requirements),
    ...columnProblems(keys),
  ];
}
