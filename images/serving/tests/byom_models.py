"""Models a user brings, built the way the trainer logs them: a scikit-learn Pipeline on raw tabular
data with string and float columns (imputers and a one-hot encoder inside a ColumnTransformer), a
custom transformer from a user code folder logged with `code_paths`, and a regressor.

The user's module is written into a folder of the test's own (never on the server's sys.path): only
MLflow's `code/` copy of it can make the logged model loadable elsewhere."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

USER_MODULE = "byom_user_steps"
USER_CODE = '''"""A user's own transformer: squashes numbers with sign(x) * log1p(|x|)."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class SignedLog(BaseEstimator, TransformerMixin):
    def fit(self, x, y=None):
        return self

    def transform(self, x):
        x = np.asarray(x, dtype=float)
        return np.sign(x) * np.log1p(np.abs(x))
'''
NUMERIC = ["age", "income"]
CATEGORICAL = ["city", "plan"]
COLUMNS = [*NUMERIC, *CATEGORICAL]
CITIES = ["oslo", "lima", "pune", "kyiv"]
PLANS = ["basic", "pro"]


def write_user_code(folder: Path) -> Path:
    """The user's code folder with its one module, importable in this process only."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{USER_MODULE}.py").write_text(USER_CODE)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return folder


def tabular(rows: int, seed: int, missing: bool = True) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Raw rows as a CSV would give them (missing cells are NaN, also in string columns), a
    three-class string label and a float target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, rows).round(1),
            "income": rng.lognormal(10, 0.6, rows).round(2),
            "city": rng.choice(CITIES, rows).astype(object),
            "plan": rng.choice(PLANS, rows).astype(object),
        }
    )
    score = frame["age"] / 10 + np.log(frame["income"]) + frame["city"].map(dict(zip(CITIES, [0, 1, 2, 3]))) + (frame["plan"] == "pro") * 2
    labels = np.array(["low", "mid", "high"], dtype=object)[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))]
    target = (score * 3.5 + rng.normal(0, 0.5, rows)).to_numpy()
    if missing:
        frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
        frame.loc[rng.random(rows) < 0.1, "city"] = np.nan
    return frame, labels, target


def preprocessing(custom: bool) -> ColumnTransformer:
    """Impute then scale numbers (optionally with the user's transformer), impute then one-hot
    encode strings; categories never seen in training are ignored, not an error."""
    numeric: list[Any] = [SimpleImputer(strategy="median")]
    if custom:
        numeric.append(importlib.import_module(USER_MODULE).SignedLog())
    numeric.append(StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer([("numbers", make_pipeline(*numeric), NUMERIC), ("strings", categorical, CATEGORICAL)])


def classifier(frame: pd.DataFrame, labels: np.ndarray, custom: bool = True) -> Pipeline:
    return Pipeline([("prepare", preprocessing(custom)), ("model", LogisticRegression(max_iter=500))]).fit(frame, labels)


def regressor(frame: pd.DataFrame, target: np.ndarray) -> Pipeline:
    return Pipeline([("prepare", preprocessing(False)), ("model", Ridge(alpha=1.0))]).fit(frame, target)
