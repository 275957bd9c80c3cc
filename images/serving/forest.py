"""A faster predict for scikit-learn forest classifiers that gives the estimator's own answers.

RandomForestClassifier.predict_proba runs each tree through joblib (even with n_jobs=None) and
re-validates the frame with pandas on every call: for a 60-tree forest that is about 10 ms of
overhead around 1 ms of tree traversal. This does what scikit-learn does for n_jobs=None, step by
step: the rows as float32 (the forests' input dtype), each tree's predict_proba accumulated in tree
order into float64, divided by the number of trees, and for predict the class of the largest
probability. tests/test_serving_forest.py checks it against the estimator on many forests.

Used only where that holds exactly: a fitted RandomForestClassifier or ExtraTreesClassifier with
one output and n_jobs None or 1, columns in the order it was fitted with, all float64 in the signature; rows holding NaN
go through the estimator itself (its missing-value handling decides).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def forest_predictor(
    estimator: Any, method: str, columns: Sequence[str], dtypes: Sequence[np.dtype]
) -> Callable[[list[list[Any]]], Any] | None:
    """The fast path for `estimator.<method>` on checked columns, or None where it would not be exact."""
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    if type(estimator) not in (RandomForestClassifier, ExtraTreesClassifier) or method not in ("predict", "predict_proba"):
        return None
    if getattr(estimator, "n_outputs_", None) != 1 or not hasattr(estimator, "estimators_"):
        return None
    if estimator.n_jobs not in (None, 1):  # threads accumulate in any order: no single answer to match
        return None
    if any(d != np.dtype("float64") for d in dtypes):
        return None
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and list(names) != list(columns):
        return None
    if getattr(estimator, "n_features_in_", len(columns)) != len(columns):
        return None
    trees, classes, n_classes = list(estimator.estimators_), estimator.classes_, int(estimator.n_classes_)
    fallback = getattr(estimator, method)

    def predict(values: list[list[Any]]) -> Any:
        x64 = np.array(values, dtype=np.float64).T
        if np.isnan(x64).any():
            import pandas as pd

            return fallback(pd.DataFrame(x64, columns=list(columns)))
        x = np.ascontiguousarray(x64, dtype=np.float32)
        proba = np.zeros((x.shape[0], n_classes), dtype=np.float64)
        for tree in trees:
            proba += tree.predict_proba(x, check_input=False)
        proba /= len(trees)
        if method == "predict_proba":
            return proba
        return classes.take(np.argmax(proba, axis=1), axis=0)

    return predict
