"""Checks a study spec and fits its trials as a worker does, without MLflow, and reports what came out.

`check_and_fit(spec)` is `trainer.py check` (check.preflight) and then, when that passes, what
`trainer.py run` does before and around each trial's MLflow run: resolve the estimator or factory,
decide the task, read and split the data, build each trial's estimator behind the declared features
(runner.ShardContext.build) and cross-validate it (evaluation.evaluate); then the refitted model
predicts the test split. test_trainer_estimators.py calls it in-process, and for the packages the
project's venv lacks runs it with a workload venv's python (PYTHONPATH=images/trainer):

    python estimator_trials.py study.json      # the last line on stdout: one JSON object
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from check import preflight
from dataset import load_frame, split_dataset
from evaluation import cv_splitter, evaluate
from modelspec import add_code_path, resolve_model, study_task
from runner import ShardContext
from spec import load_shard_spec


def run_trials(spec_path: str) -> dict[str, Any]:
    spec = load_shard_spec(spec_path)
    add_code_path(spec.code_path)
    model = resolve_model(spec.estimator, spec.factory)
    task = study_task(model, spec.task, spec.scoring)
    split = split_dataset(load_frame(spec.dataset), spec.dataset, spec.test_size, spec.seed, task, spec.cv_folds)
    # Only what `build` reads is real: no tracking, no MLflow runs (a build that touched them would raise here).
    ctx = ShardContext(None, spec, "", "", split, model, task)  # type: ignore[arg-type]
    trials = []
    for trial in spec.trials:
        scores, fitted = evaluate(ctx.build(trial), split, spec.scoring, spec.cv_folds, spec.seed, task=task)
        predicted = np.asarray(fitted.predict(split.x_test))
        trials.append(
            {
                "params": trial.params,
                "foldScores": list(scores.fold_scores),
                "testExtra": scores.test_extra,
                "predicted": predicted.tolist(),
                "predictedKind": predicted.dtype.kind,
                "steps": [name for name, _ in getattr(fitted, "steps", [])],
            }
        )
    grouped = split.groups_train is not None
    return {
        "task": task,
        "splitter": type(cv_splitter(task, spec.cv_folds, spec.seed, grouped)).__name__,
        "classes": sorted(split.y_train.unique().tolist()) if task == "classification" else None,
        "targetKind": split.y_train.dtype.kind,
        "testRows": len(split.x_test),
        "missingInTrain": int(split.x_train.isna().sum().sum()),
        "trials": trials,
    }


def check_and_fit(spec_path: str) -> dict[str, Any]:
    """{"check": what preflight found, and when it passed, run_trials' keys}."""
    found = preflight(spec_path)
    return {"check": found, **(run_trials(spec_path) if found["ok"] else {})}


if __name__ == "__main__":
    print(json.dumps(check_and_fit(sys.argv[1])))
