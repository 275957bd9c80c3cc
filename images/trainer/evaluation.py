"""Scores one trial: stratified k-fold CV on the train split, then a refit scored on the test split.

The folds run one at a time so that a pruner can see the running CV mean after each fold and stop
a trial that is clearly worse after a few folds (optuna#4373: pruning inside CV needs exactly this).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from dataset import DataSplit
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, get_scorer
from sklearn.model_selection import StratifiedKFold


@dataclass(frozen=True)
class TrialScores:
    fold_scores: tuple[float, ...]
    cv_mean: float
    cv_std: float
    #: Mean seconds to fit the estimator on one CV training fold.
    fit_time_seconds: float
    test_score: float
    test_accuracy: float


#: Called after fold k (1-based) with the mean of the k fold scores; True stops the trial there.
AfterFold = Callable[[int, float], bool]


class Stopped(Exception):
    """The after-fold callback stopped the trial (pruned): the folds it finished, for the record."""

    def __init__(self, fold_scores: tuple[float, ...], fit_time_seconds: float) -> None:
        super().__init__(f"stopped after {len(fold_scores)} folds")
        self.fold_scores = fold_scores
        self.fit_time_seconds = fit_time_seconds


def evaluate(
    estimator: BaseEstimator, split: DataSplit, scoring: str, folds: int, seed: int, after_fold: AfterFold | None = None
) -> tuple[TrialScores, BaseEstimator]:
    """Returns the scores and the estimator refitted on the whole train split; raises Stopped when
    `after_fold` says so. Same folds, clones and scorer as cross_validate, one fold at a time; a bad
    parameter raises (never a NaN score)."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scorer = get_scorer(scoring)
    fold_scores: list[float] = []
    fit_times: list[float] = []
    for train_rows, test_rows in cv.split(split.x_train, split.y_train):
        fold_model = clone(estimator)
        started = time.perf_counter()
        fold_model.fit(split.x_train.iloc[train_rows], split.y_train.iloc[train_rows])
        fit_times.append(time.perf_counter() - started)
        fold_scores.append(float(scorer(fold_model, split.x_train.iloc[test_rows], split.y_train.iloc[test_rows])))
        done = len(fold_scores)
        if after_fold is not None and done < folds and after_fold(done, float(np.mean(fold_scores))):
            raise Stopped(tuple(fold_scores), float(np.mean(fit_times)))
    model = clone(estimator)
    model.fit(split.x_train, split.y_train)
    scores = TrialScores(
        fold_scores=tuple(fold_scores),
        cv_mean=float(np.mean(fold_scores)),
        cv_std=float(np.std(fold_scores)),
        fit_time_seconds=float(np.mean(fit_times)),
        test_score=float(scorer(model, split.x_test, split.y_test)),
        test_accuracy=float(accuracy_score(split.y_test, model.predict(split.x_test))),
    )
    return scores, model
