"""The estimators docs/byom.md lists as tried, each through the trainer's own path without MLflow.

For each: the `check` preflight passes a small spec (two trials of a grid), and every trial, built and
cross-validated as a worker does it (estimator_trials.py), gives one finite score per fold from the
task's splitter, and a refitted model that predicts class labels (a classifier) or finite floats (a
regressor) for the test split. LightGBM and XGBoost are not in the project's venv: those cases run with
the python of a workload venv (scripts/workload-venv.sh, what a stack's `training.requirements` gets,
and the python driver/preflight.ts runs `trainer.py check` with), built once per set of pins into the
cache folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from estimator_trials import check_and_fit
from mlflow_testing import REPO_ROOT, TRAINER_DIR, client_env
from skips import skip_or_fail_in_ci
from test_trainer_byom import SEED, TABULAR_FEATURES, regression_csv, spec_json, tabular_csv, write_spec
from threadpoolctl import threadpool_limits

#: The newest releases with wheels for the venv's Python 3.11 (xgboost-cpu: XGBoost without the CUDA libraries).
EXTRA_PINS = ("lightgbm==4.7.0", "xgboost-cpu==3.2.0")
FOLDS = 3
GENERATE = spec_json("", "")["dataset"]["generate"]


def categorical_classes(folder: Path) -> dict[str, Any]:
    """Three classes; two numeric and two string columns, all with gaps, and an id to drop."""
    return {"source": str(tabular_csv(folder / "t.csv")), "target": "label", "generate": GENERATE, "features": TABULAR_FEATURES}


def numeric_target(folder: Path) -> dict[str, Any]:
    return {"source": str(regression_csv(folder / "r.csv")), "target": "y", "generate": GENERATE}


def numeric_target_with_gaps(folder: Path) -> dict[str, Any]:
    """No declared features, so no imputer: the estimator itself gets the NaN cells."""
    path = regression_csv(folder / "r.csv")
    frame = pd.read_csv(path)
    frame.loc[::7, "x0"] = np.nan
    frame.loc[::5, "x3"] = np.nan
    frame.to_csv(path, index=False)
    return {"source": str(path), "target": "y", "generate": GENERATE}


@dataclass(frozen=True)
class Case:
    estimator: str
    task: str
    scoring: str
    dataset: Callable[[Path], dict[str, Any]]
    #: Each parameter's value in the first and the second trial.
    values: dict[str, tuple[Any, Any]]
    #: The package is not in the project's venv: run with the workload venv's python.
    extra: bool = False

    @property
    def name(self) -> str:
        return self.estimator.rsplit(".", 1)[1]

    @property
    def trials(self) -> list[dict[str, Any]]:
        return [dict(zip(self.values, values)) for values in zip(*self.values.values())]


HGB = "sklearn.ensemble.HistGradientBoostingRegressor"
CASES = [
    Case("sklearn.svm.SVC", "classification", "f1_macro", categorical_classes, {"C": (0.5, 2.0), "gamma": ("scale", "auto")}),
    Case("sklearn.linear_model.Ridge", "regression", "neg_root_mean_squared_error", numeric_target, {"alpha": (0.1, 10.0)}),
    Case(HGB, "regression", "neg_mean_absolute_error", numeric_target_with_gaps, {"max_iter": (20, 40), "max_depth": (3, 3)}),
    Case("lightgbm.LGBMRegressor", "regression", "r2", numeric_target, {"n_estimators": (30, 60), "num_leaves": (7, 15)}, extra=True),
    Case(
        "xgboost.XGBClassifier",
        "classification",
        "f1_macro",
        categorical_classes,
        {"n_estimators": (20, 40), "max_depth": (3, 2)},
        extra=True,
    ),
]


def cache_dir() -> Path:
    """$MLOPS_CACHE_DIR as scripts/env.sh sets it: outside the repository, kept between runs."""
    return Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops-pipeline")


@pytest.fixture(scope="session")
def extras_python() -> Path:
    """The python of a workload venv with EXTRA_PINS on top of the venv running the tests. The folder
    is named by the pins, that base venv and python/requirements.lock (the venv reads the base's
    packages through a .pth file, and the lock was its constraint), so a change to any builds afresh."""
    lock = (REPO_ROOT / "python" / "requirements.lock").read_bytes()
    key = hashlib.sha256("\n".join([*EXTRA_PINS, sys.prefix]).encode() + lock).hexdigest()[:16]
    venv = cache_dir() / "test-venvs" / f"trainer-estimators-{key}"
    command = ["bash", str(REPO_ROOT / "scripts" / "workload-venv.sh"), str(venv), *EXTRA_PINS]
    built = subprocess.run(command, env={**os.environ, "MLOPS_VENV": sys.prefix}, capture_output=True, text=True, timeout=900)
    print(f"\n{built.stderr.strip()}", flush=True)  # which venv, and built or up to date (shown with -s)
    if built.returncode != 0:
        skip_or_fail_in_ci(
            "the LightGBM and XGBoost estimator cases",
            f"scripts/workload-venv.sh could not build {venv} for {' '.join(EXTRA_PINS)}: {built.stderr.strip()[-800:]}",
        )
    return venv / "bin" / "python"


def check_and_fit_with(spec_path: str, python: Path | None) -> dict[str, Any]:
    """estimator_trials.check_and_fit in this process, or run by `python` (a workload venv's)."""
    # One OpenMP thread: on tiny data more only wait on each other, for seconds on a busy 2-core machine.
    if python is None:
        with threadpool_limits(1):
            return check_and_fit(spec_path)
    env = client_env("http://unused", PYTHONPATH=str(TRAINER_DIR), OMP_NUM_THREADS="1")
    driver = Path(__file__).with_name("estimator_trials.py")
    done = subprocess.run([python, driver, spec_path], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{driver.name} exited {done.returncode}: {done.stdout[-1000:]}{done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # the last line: LightGBM's native code prints its notes to stdout too


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_estimator_passes_check_and_cross_validates(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dataset = case.dataset(tmp_path)
    trials = [{"index": i, "key": f"k{i}", "params": params} for i, params in enumerate(case.trials)]
    spec = spec_json(
        dataset["source"],
        dataset["target"],
        estimator=case.estimator,
        scoring=case.scoring,
        cvFolds=FOLDS,
        dataset=dataset,
        trials=trials,
        totalTrials=len(trials),
        search={"kind": "grid", "budget": len(trials), "seed": SEED},
    )
    python = request.getfixturevalue("extras_python") if case.extra else None
    outcome = check_and_fit_with(write_spec(tmp_path, spec), python)
    found = outcome["check"]

    assert found["ok"] is True, found
    assert (found["task"], found["estimator"]) == (case.task, case.estimator)  # the task the class declares: the spec names none
    assert set(case.values) <= set(found["acceptedParams"])
    classifier = case.task == "classification"
    assert outcome["task"] == case.task and outcome["splitter"] == ("StratifiedKFold" if classifier else "KFold")
    assert [t["params"] for t in outcome["trials"]] == case.trials
    if "features" in dataset:  # the declared columns (one categorical at least) go through the features Pipeline
        assert all(t["steps"] == ["features", "model"] for t in outcome["trials"])
    if case.dataset is numeric_target_with_gaps:  # no imputer in front: the estimator itself took the NaN cells
        assert outcome["missingInTrain"] > 0 and all(t["steps"] == [] for t in outcome["trials"])
    for trial in outcome["trials"]:
        scores = trial["foldScores"]
        assert len(scores) == FOLDS and all(math.isfinite(s) for s in scores), trial
        predicted = trial["predicted"]
        assert len(predicted) == outcome["testRows"]
        if classifier:
            assert set(predicted) <= set(outcome["classes"]) and trial["predictedKind"] == outcome["targetKind"], trial
            assert trial["testExtra"]["test_accuracy"] > 0.5  # three classes: a third by chance
        else:
            assert trial["predictedKind"] == "f" and all(math.isfinite(p) for p in predicted), trial
            assert trial["testExtra"]["test_r2"] > 0.5
