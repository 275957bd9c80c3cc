"""`trainer.py check --spec study.json`: the preflight, run before anything starts and without MLflow.

It resolves the estimator (a factory is imported, not called), decides the task and checks the scorer
fits it, checks every hyperparameter name of the search against the estimator's constructor, and reads
the dataset and runs the column, feature and target checks of dataset.py. It collects every problem it
can, each with the spec key at fault (the orchestration maps spec keys to the user's config keys):

    {"ok": true, "task": "regression", "estimator": "sklearn.linear_model.Ridge", "acceptedParams": [...], "rows": 500, "columns": {...}}
    {"ok": false, "problems": [{"key": "search.space.C", "message": "..."}]}
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from dataset import Columns, DatasetError, load_frame, split_columns, take_columns
from modelspec import ModelError, ModelSource, add_code_path, resolve_model, study_task
from scorers import scoring_problem, task_of_scorer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import get_scorer
from spec import ShardSpec, SpecError, load_shard_spec

Problems = list[dict[str, str]]


def _param_problems(spec: ShardSpec, accepted: list[str]) -> Problems:
    """Every search parameter the estimator does not take, at its spec key."""
    problems: Problems = []
    seen: set[str] = set()
    named = [(f"search.space.{name}", name) for name in (spec.search.space if spec.search else {})]
    named += [(f"trials[{t.index}].params.{name}", name) for t in spec.trials for name in t.params]
    for key, name in named:
        if name not in accepted and name not in seen:
            seen.add(name)
            problems.append(
                {"key": key, "message": f"{name!r} is not a parameter of {spec.model_name}: expected one of {', '.join(accepted)}"}
            )
    return problems


def scorer_problem(scoring: str, task: str, target: pd.Series) -> str | None:
    """Whether the scorer can score this target at all (e.g. `f1` on three classes cannot): tried on a
    dummy model that predicts the class shares or the mean."""
    dummy = DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor()
    x = np.zeros((len(target), 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dummy.fit(x, target)
            get_scorer(scoring)(dummy, x, target)
    except Exception as err:
        return f"{scoring!r} cannot score this target column: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    return None


def _model(spec: ShardSpec, problems: Problems) -> tuple[ModelSource | None, str | None]:
    """(the model, the task), each None when a problem (appended) leaves it unknown."""
    try:
        add_code_path(spec.code_path)
        model = resolve_model(spec.estimator, spec.factory)
    except ModelError as err:
        problems.append({"key": err.key, "message": err.message})
        problem = scoring_problem(spec.scoring, spec.task)
        if problem is not None:
            problems.append({"key": "scoring", "message": problem})
        return None, spec.task or task_of_scorer(spec.scoring)
    try:
        return model, study_task(model, spec.task, spec.scoring)
    except ModelError as err:
        problems.append({"key": err.key, "message": err.message})
        return model, None


def _dataset(spec: ShardSpec, task: str, problems: Problems) -> Columns | None:
    try:
        frame = load_frame(spec.dataset)
    except DatasetError as err:
        problems.append({"key": "dataset.source", "message": str(err)})
        return None
    columns, found = take_columns(frame, spec.dataset, task)
    problems.extend({"key": key, "message": message} for key, message in found)
    if columns is None:
        return None
    try:
        split_columns(columns, spec.test_size, spec.seed, task, spec.cv_folds)
    except (ValueError, DatasetError) as err:
        key = "dataset.groupColumn" if spec.dataset.group_column else "testSize"
        problems.append({"key": key, "message": f"cannot split into train/test: {err}"})
    return columns


def preflight(spec_path: str, check_data: bool = True) -> dict[str, Any]:
    """The one JSON object `check` prints: ok with what was found, or every problem found. Without
    `check_data` (data only the workers can read: s3://, a path inside their containers) the model,
    scorer and parameters are checked and the workers check the data as they load it."""
    try:
        spec = load_shard_spec(spec_path)
    except SpecError as err:
        return {"ok": False, "problems": [{"key": err.key or "(spec)", "message": str(err)}]}
    problems: Problems = []
    model, task = _model(spec, problems)
    accepted: list[str] | None = None
    if model is not None:
        try:
            accepted = model.accepted_params()
        except ModelError as err:
            problems.append({"key": err.key, "message": err.message})
        if accepted is not None:
            problems.extend(_param_problems(spec, accepted))
    columns = _dataset(spec, task, problems) if task is not None and check_data else None
    if columns is not None and task is not None and task_of_scorer(spec.scoring) == task:
        problem = scorer_problem(spec.scoring, task, columns.target)
        if problem is not None:
            problems.append({"key": "scoring", "message": problem})
    if problems or model is None or (check_data and columns is None):
        return {"ok": False, "problems": problems}
    found = {} if columns is None else {"rows": len(columns.target), "columns": columns.kinds}
    return {"ok": True, "task": task, "estimator": model.identity, "acceptedParams": accepted, **found}
