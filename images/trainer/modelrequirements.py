"""What a logged model needs besides its pickle: the pip requirements, and the user's code.

Pinning the requirements ourselves skips MLflow's slow requirement inference (a subprocess that
reloads the model) and records exactly what trained it: scikit-learn, numpy, pandas and cloudpickle,
the distribution of every estimator class inside the model that comes from an installed package
(xgboost for an XGBClassifier), and the spec's `requirements` (exact pins, which win over ours).

The user's code folder (`codePath`) goes with the model as MLflow `code_paths`, one entry per module
or package in it: MLflow copies each entry to the model's `code/` folder and puts that folder on
sys.path when it loads the model, so `import my_transformers` works where the folder itself is absent.
"""

from __future__ import annotations

import os
import re
from functools import cache
from importlib import metadata
from typing import Any

_BASE = ("scikit-learn", "numpy", "pandas", "cloudpickle")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _estimators(model: Any) -> list[Any]:
    """The model and every estimator nested in it (Pipeline steps, ColumnTransformer parts, meta-estimators)."""
    found = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        found.extend(v for v in get_params(deep=True).values() if callable(getattr(v, "get_params", None)) and not isinstance(v, type))
    return found


def model_requirements(model: Any, pins: tuple[str, ...] = ()) -> list[str]:
    names = list(_BASE)
    for estimator in _estimators(model):
        top = type(estimator).__module__.split(".")[0]
        for dist in _distributions().get(top, []):
            if _canonical(dist) not in map(_canonical, names):
                names.append(dist)
    pinned = {_canonical(re.split(r"[\[=]", pin, maxsplit=1)[0]): pin for pin in pins}
    ours = [f"{name}=={metadata.version(name)}" for name in names if _canonical(name) not in pinned]
    return [*ours, *pinned.values()]


def code_path_entries(code_path: str | None) -> list[str] | None:
    """The modules and packages in the user's code folder, for MLflow's `code_paths` (None: no folder)."""
    if code_path is None:
        return None
    entries = sorted(e for e in os.listdir(code_path) if not e.startswith(".") and e != "__pycache__")
    return [os.path.join(code_path, e) for e in entries] or None
