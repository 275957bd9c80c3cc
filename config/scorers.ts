import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";

/** What a model predicts: a class label or a number. */
export const tasks = ["classification", "regression"] as const;
export type Task = (typeof tasks)[number];

/** A scikit-learn scorer name (sklearn.metrics.get_scorer_names()) of a supervised task. */
export type Scoring = string;

/** config/scorers.json, shared with the trainer (its preflight check reads the same file). */
export const scorersFile = path.join(__dirname, "scorers.json");

export const scorersByTask: Readonly<Record<Task, readonly string[]>> = z
  .object({ classification: z.array(z.string()), regression: z.array(z.string()) })
  .parse(JSON.parse(fs.readFileSync(scorersFile, "utf8")));

/** The task a scorer measures, or undefined for a name that is no supervised scorer of the pinned scikit-learn. */
export function taskOfScoring(scoring: string): Task | undefined {
  return tasks.find((task) => scorersByTask[task].includes(scoring));
}

/** The scorer a study is compared on when the config names none. */
export const defaultScoring: Readonly<Record<Task, Scoring>> = { classification: "f1_macro", regression: "r2" };
