"""The user's code folder the bring-your-own-model tests write: a module with a custom transformer and
factories that build, raise, or return no estimator."""

from __future__ import annotations

import textwrap
from pathlib import Path

USER_CODE = '''
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline


class Squares(BaseEstimator, TransformerMixin):
    """Appends the square of every column."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=float)
        return np.hstack([X, X**2])


def build(alpha=1.0):
    if alpha < 0:
        raise ValueError("alpha must be >= 0, got %r" % alpha)
    return Pipeline([("squares", Squares()), ("ridge", Ridge(alpha=alpha))])


def not_a_model(alpha=1.0):
    return {"alpha": alpha}
'''


def user_code(folder: Path, module: str, extra: str = "") -> Path:
    """A code folder with one module (a name per test: a module stays imported for the whole session)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(USER_CODE) + extra)
    return folder
