"""config/scorers.json, the one owner of which scorer fits which task, against the pinned scikit-learn."""

from __future__ import annotations

import json

import pytest
from mlflow_testing import REPO_ROOT
from scorers import SCORERS_FILES, scorers_by_task, scoring_problem, task_of_scorer
from sklearn.metrics import get_scorer, get_scorer_names

SCORERS_JSON = REPO_ROOT / "config" / "scorers.json"


def test_every_name_is_a_scorer_of_the_pinned_scikit_learn_and_the_lists_are_disjoint() -> None:
    raw = json.loads(SCORERS_JSON.read_text(encoding="utf-8"))
    classification, regression = raw["classification"], raw["regression"]
    known = set(get_scorer_names())
    assert sorted(set(classification + regression) - known) == []
    assert set(classification) & set(regression) == set()
    assert len(set(classification)) == len(classification) and len(set(regression)) == len(regression)
    # No clustering scorer in either list (they score cluster labels, not a target).
    assert [n for n in classification + regression if get_scorer(n)._score_func.__module__.startswith("sklearn.metrics.cluster")] == []
    # The scorers the trainer offered before issue 20 are all still there.
    assert {"accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "roc_auc_ovr"} <= set(
        classification
    )
    assert {"r2", "neg_root_mean_squared_error", "neg_mean_absolute_error"} <= set(regression)


def test_the_trainer_reads_that_same_file() -> None:
    assert SCORERS_JSON in SCORERS_FILES
    raw = json.loads(SCORERS_JSON.read_text(encoding="utf-8"))
    assert scorers_by_task() == {"classification": tuple(raw["classification"]), "regression": tuple(raw["regression"])}


@pytest.mark.parametrize(
    ("scoring", "task", "fragment"),
    [
        ("r2", "classification", "'r2' is a regression scorer but the task is classification: expected one of accuracy"),
        (
            "f1_macro",
            "regression",
            "'f1_macro' is a classification scorer but the task is regression: expected one of d2_absolute_error_score",
        ),
        ("rand_score", None, "unknown scorer 'rand_score': expected a scikit-learn scorer name"),
    ],
)
def test_a_scorer_of_the_wrong_task_is_named(scoring: str, task: str | None, fragment: str) -> None:
    problem = scoring_problem(scoring, task)
    assert problem is not None and fragment in problem


def test_scorers_fit_their_task() -> None:
    assert task_of_scorer("neg_root_mean_squared_error") == "regression" and task_of_scorer("roc_auc_ovr") == "classification"
    assert scoring_problem("neg_log_loss", "classification") is None and scoring_problem("r2", None) is None
