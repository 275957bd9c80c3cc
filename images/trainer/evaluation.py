"""Scores one trial: k-fold CV on the train split, then a refit scored on the test split.

The folds are StratifiedKFold for classification and KFold for regression (StratifiedGroupKFold /
GroupKFold with a group column), shuffled with the study seed: the same folds as
`GridSearchCV(cv=KFold(k, shuffle=True, random_state=seed))`. They run one at a time so that a pruner
can see each fold's score and the running CV mean and stop a trial that is clearly worse after a few
folds (optuna#4373: pruning inside CV needs exactly this).

Every scikit-learn scorer is higher-is-better (`neg_*` for the errors), so a higher CV mean is always
the better trial. Besides the scorer, the test split gets `test_accuracy` (classification) or
`test_r2` and `test_rmse` (regression).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from contract import METRIC_TEST_ACCURACY, METRIC_TEST_R2, METRIC_TEST_RMSE
from dataset import DataSplit
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, get_scorer, r2_score, root_mean_squared_error
from sklearn.model_selection import BaseCrossValidator, GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold


@dataclass(frozen=True)
class TrialScores:
    fold_scores: tuple[float, ...]
    cv_mean: float
    cv_std: float
    #: Mean seconds to fit the estimator on one CV training fold.
    fit_time_seconds: float
    test_score: float
    #: The task's plain test metric by its contract name: test accuracy (classification) or test RMSE (regression).
    test_extra: dict[str, float] = field(default_factory=dict)


#: Called after fold k (1-based) with the mean of the k fold scores and fold k's own score; True stops the trial there.
AfterFold = Callable[[int, float, float], bool]


class Stopped(Exception):
    """The after-fold callback stopped the trial (pruned): the folds it finished, for the record."""

    def __init__(self, fold_scores: tuple[float, ...], fit_time_seconds: float) -> None:
        super().__init__(f"stopped after {len(fold_scores)} folds")
        self.fold_scores = fold_scores
        self.fit_time_seconds = fit_time_seconds


def cv_splitter(task: str, folds: int, seed: int, grouped: bool) -> BaseCrossValidator:
    if grouped:
        cls = StratifiedGroupKFold if task == "classification" else GroupKFold
        return cls(n_splits=folds, shuffle=True, random_state=seed)
    cls = StratifiedKFold if task == "classification" else KFold
    return cls(n_splits=folds, shuffle=True, random_state=seed)


def plain_test_metrics(task: str, y_true: object, y_pred: object) -> dict[str, float]:
    if task == "classification":
        return {METRIC_TEST_ACCURACY: float(accuracy_score(y_true, y_pred))}
    return {METRIC_TEST_R2: float(r2_score(y_true, y_pred)), METRIC_TEST_RMSE: float(root_mean_squared_error(y_true, y_pred))}


def evaluate(
    estimator: BaseEstimator,
    split: DataSplit,
    scoring: str,
    folds: int,
    seed: int,
    after_fold: AfterFold | None = None,
    task: str = "classification",
) -> tuple[TrialScores, BaseEstimator]:
    """Returns the scores and the estimator refitted on the whole train split; raises Stopped when
    `after_fold` says so. Same folds, clones and scorer as cross_validate, one fold at a time; a bad
    parameter raises (never a NaN score)."""
    cv = cv_splitter(task, folds, seed, split.groups_train is not None)
    scorer = get_scorer(scoring)
    fold_scores: list[float] = []
    fit_times: list[float] = []
    for train_rows, test_rows in cv.split(split.x_train, split.y_train, split.groups_train):
        fold_model = clone(estimator)
        started = time.perf_counter()
        fold_model.fit(split.x_train.iloc[train_rows], split.y_train.iloc[train_rows])
        fit_times.append(time.perf_counter() - started)
        fold_scores.append(float(scorer(fold_model, split.x_train.iloc[test_rows], split.y_train.iloc[test_rows])))
        done = len(fold_scores)
        if after_fold is not None and done < folds and after_fold(done, float(np.mean(fold_scores)), fold_scores[-1]):
            raise Stopped(tuple(fold_scores), float(np.mean(fit_times)))
    model = clone(estimator)
    model.fit(split.x_train, split.y_train)
    scores = TrialScores(
        fold_scores=tuple(fold_scores),
        cv_mean=float(np.mean(fold_scores)),
        cv_std=float(np.std(fold_scores)),
        fit_time_seconds=float(np.mean(fit_times)),
        test_score=float(scorer(model, split.x_test, split.y_test)),
        test_extra=plain_test_metrics(task, split.y_test, model.predict(split.x_test)),
    )
    return scores, model
