"""Scores one trial: stratified k-fold CV on the train split, then a refit scored on the test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, get_scorer
from sklearn.model_selection import StratifiedKFold, cross_validate

from dataset import DataSplit


@dataclass(frozen=True)
class TrialScores:
    fold_scores: tuple[float, ...]
    cv_mean: float
    cv_std: float
    #: Mean seconds to fit the estimator on one CV training fold.
    fit_time_seconds: float
    test_score: float
    test_accuracy: float


def evaluate(estimator: BaseEstimator, split: DataSplit, scoring: str, folds: int, seed: int) -> tuple[TrialScores, BaseEstimator]:
    """Returns the scores and the estimator refitted on the whole train split."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # error_score="raise": a bad parameter must fail the trial, not hide as a NaN score.
    result = cross_validate(estimator, split.x_train, split.y_train, cv=cv, scoring=scoring, error_score="raise", n_jobs=1)
    fold_scores = tuple(float(s) for s in result["test_score"])
    model = clone(estimator)
    model.fit(split.x_train, split.y_train)
    scores = TrialScores(
        fold_scores=fold_scores,
        cv_mean=float(np.mean(fold_scores)),
        cv_std=float(np.std(fold_scores)),
        fit_time_seconds=float(np.mean(result["fit_time"])),
        test_score=float(get_scorer(scoring)(model, split.x_test, split.y_test)),
        test_accuracy=float(accuracy_score(split.y_test, model.predict(split.x_test))),
    )
    return scores, model
