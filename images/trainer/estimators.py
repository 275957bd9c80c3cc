"""Estimators per model family: trial params go straight to the scikit-learn constructor."""

from __future__ import annotations

from collections.abc import Mapping

from sklearn.base import BaseEstimator
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from spec import ParamValue

_FAMILIES: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "gradient_boosting": GradientBoostingClassifier,
}


def build_estimator(family: str, params: Mapping[str, ParamValue], seed: int) -> BaseEstimator:
    """Raises TypeError for a parameter the estimator does not take (the trial then fails, not the worker)."""
    cls = _FAMILIES.get(family)
    if cls is None:
        raise ValueError(f"unknown model family {family!r}: expected one of {', '.join(_FAMILIES)}")
    kwargs = dict(params)
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    estimator = cls(**kwargs)
    if family == "logistic_regression":
        # Linear models converge and regularise evenly only on standardised features.
        return Pipeline([("scale", StandardScaler()), ("model", estimator)])
    return estimator
