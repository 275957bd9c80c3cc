"""The forest fast path gives exactly the estimator's own predictions and probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from forest import forest_predictor
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier

F64 = np.dtype("float64")


def data(classes: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    x, y = make_classification(n_samples=1500, n_features=12, n_informative=6, n_classes=classes, random_state=seed)
    frame = pd.DataFrame(x[:600], columns=[f"f{i}" for i in range(12)])
    fresh = pd.DataFrame(x[600:] * 1.7, columns=frame.columns)  # other rows, some outside the training range
    return frame, y[:600], fresh


@pytest.mark.parametrize(
    ("estimator", "classes", "labels"),
    [
        (RandomForestClassifier(n_estimators=60, random_state=0), 2, None),
        (RandomForestClassifier(n_estimators=25, max_depth=4, class_weight="balanced", random_state=1), 3, ["low", "mid", "high"]),
        (RandomForestClassifier(n_estimators=10, bootstrap=False, min_samples_leaf=3, random_state=2), 2, [-1, 1]),
        (ExtraTreesClassifier(n_estimators=40, random_state=3), 4, None),
    ],
)
def test_same_predictions_and_probabilities_as_the_estimator(estimator: Any, classes: int, labels: list[Any] | None) -> None:
    frame, y, fresh = data(classes, seed=classes)
    target = np.array(labels)[y] if labels else y
    estimator.fit(frame, target)
    columns = [fresh[c].tolist() for c in fresh.columns]
    for method in ("predict", "predict_proba"):
        fast = forest_predictor(estimator, method, list(fresh.columns), [F64] * 12)
        assert fast is not None
        ours, theirs = fast(columns), getattr(estimator, method)(fresh)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), method


def test_rows_with_nan_go_through_the_estimator() -> None:
    frame, y, fresh = data(2, seed=5)
    estimator = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, y)
    fresh.iloc[3, 2] = np.nan
    fast = forest_predictor(estimator, "predict", list(fresh.columns), [F64] * 12)
    assert fast is not None and np.array_equal(fast([fresh[c].tolist() for c in fresh.columns]), estimator.predict(fresh))


def test_not_used_where_it_would_not_be_exact() -> None:
    frame, y, _ = data(2, seed=6)
    names = list(frame.columns)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, y)
    assert forest_predictor(forest, "predict", list(reversed(names)), [F64] * 12) is None  # other column order
    assert forest_predictor(forest, "predict", names, [np.dtype("float32")] * 12) is None
    assert forest_predictor(forest, "apply", names, [F64] * 12) is None
    assert (
        forest_predictor(RandomForestClassifier(n_estimators=5, n_jobs=2, random_state=0).fit(frame, y), "predict", names, [F64] * 12)
        is None
    )
    assert forest_predictor(GradientBoostingClassifier(n_estimators=5).fit(frame, y), "predict", names, [F64] * 12) is None
