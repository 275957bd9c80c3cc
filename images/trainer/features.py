"""Declared feature columns (`dataset.features`): checked against the data, typed, and turned into the
preprocessing that becomes the first step of the logged model.

With features, the estimator is wrapped in ONE scikit-learn Pipeline: a ColumnTransformer (numeric
columns: a SimpleImputer per the declared policy; categorical columns: cast to pandas' string dtype so
NaN and None are one missing marker, a SimpleImputer, then a OneHotEncoder that ignores categories it
never saw) and then the model. That whole Pipeline is what is
cross-validated, refitted and logged, so a server applies exactly what training did. Only scikit-learn's
and pandas' own classes and functions go into it, so loading the model needs no trainer module.

Categorical columns are read as strings (every non-missing value cast to str, missing ones NaN), so the
model signature carries string columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from spec import FeaturesSpec

#: A categorical column's missing values become this category under impute "constant".
MISSING_CATEGORY = "missing"
_NUMERIC_IMPUTERS: dict[str, dict[str, Any]] = {
    "median": {"strategy": "median"},
    "mean": {"strategy": "mean"},
    "zero": {"strategy": "constant", "fill_value": 0},
}
#: "none" keeps a missing value as a category of its own, which is what "constant" does: OneHotEncoder
#: cannot take pandas' NA marker itself.
_CATEGORICAL_IMPUTERS: dict[str, dict[str, Any]] = {
    "most_frequent": {"strategy": "most_frequent"},
    "constant": {"strategy": "constant", "fill_value": MISSING_CATEGORY},
    "none": {"strategy": "constant", "fill_value": MISSING_CATEGORY},
}

#: (spec key, message): what is wrong with the data for the declared features.
Problem = tuple[str, str]


def column_problems(frame: pd.DataFrame, features: FeaturesSpec, reserved: tuple[str, ...]) -> list[Problem]:
    """Declared columns missing from the data, and data columns nobody declared (besides `reserved`:
    the target and the group column)."""
    problems: list[Problem] = []
    present = {str(c) for c in frame.columns}
    for kind in ("numeric", "categorical", "drop"):
        missing = [c for c in getattr(features, kind) if c not in present]
        if missing:
            problems.append(
                (f"dataset.features.{kind}", f"declared column(s) missing from the data: {', '.join(missing)} (columns: {_list(present)})")
            )
    declared = {*features.numeric, *features.categorical, *features.drop, *reserved}
    undeclared = [str(c) for c in frame.columns if str(c) not in declared]
    if undeclared:
        problems.append(
            ("dataset.features", f"column(s) not declared as numeric, categorical or drop: {', '.join(undeclared[:10])}"),
        )
    return problems


def _list(names: set[str]) -> str:
    shown = sorted(names)[:12]
    return ", ".join(shown) + (", ..." if len(names) > len(shown) else "")


def numeric_problem(column: pd.Series) -> str | None:
    """The first value of a declared numeric column that is not a number: its data row (1-based,
    the header not counted) and the value."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return None
    parsed = pd.to_numeric(column, errors="coerce")
    bad = column.notna() & parsed.isna()
    if not bad.any():
        return None
    position = int(np.flatnonzero(bad.to_numpy())[0])
    return f"column {column.name!r}, row {position + 1}: {str(column.iloc[position])[:40]!r} is not a number (declared numeric)"


def typed_features(frame: pd.DataFrame, features: FeaturesSpec) -> pd.DataFrame:
    """The declared numeric (float) and categorical (str, missing NaN) columns, in declared order.
    Call after `column_problems` and `numeric_problem` found nothing."""
    out = pd.DataFrame(index=frame.index)
    for name in features.numeric:
        out[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    for name in features.categorical:
        column = frame[name]
        out[name] = column.map(str, na_action="ignore").astype(object).where(column.notna(), np.nan)
    return out


def preprocessor(features: FeaturesSpec) -> ColumnTransformer:
    numeric: Any = "passthrough"
    if features.impute_numeric != "none":
        numeric = SimpleImputer(**_NUMERIC_IMPUTERS[features.impute_numeric])
    # A missing string arrives as NaN (a CSV) or None (parquet, JSON at the server); pandas' string dtype
    # turns both into one marker, pd.NA, so both are imputed alike (a NaN-only imputer leaves None through).
    as_strings = FunctionTransformer(pd.DataFrame.astype, kw_args={"dtype": "string"}, feature_names_out="one-to-one")
    impute = SimpleImputer(missing_values=pd.NA, **_CATEGORICAL_IMPUTERS[features.impute_categorical])
    # Dense output: estimators that centre their input (StandardScaler in logistic_regression) refuse sparse.
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    steps: list[tuple[str, Any]] = [("strings", as_strings), ("impute", impute), ("onehot", onehot)]
    transformers: list[tuple[str, Any, list[str]]] = []
    if features.numeric:
        transformers.append(("numeric", numeric, list(features.numeric)))
    if features.categorical:
        transformers.append(("categorical", Pipeline(steps), list(features.categorical)))
    return ColumnTransformer(transformers, remainder="drop")


def with_features(estimator: Any, features: FeaturesSpec | None) -> Any:
    """The estimator behind the declared preprocessing, as one Pipeline (the estimator itself without features)."""
    if features is None:
        return estimator
    return Pipeline([("features", preprocessor(features)), ("model", estimator)])


def imputes_missing(features: FeaturesSpec | None) -> bool:
    """Whether the preprocessing fills every missing value before the estimator sees it, so the model
    server may accept null in any column (scikit-learn's tags cannot see an imputer inside a ColumnTransformer)."""
    return features is not None and features.impute_numeric != "none" and features.impute_categorical != "none"
