"""Resolves `models:/<name>@<alias>` to one registered version and loads it, retrying while the
tracking server is not answering yet (it may start after the serving replicas).

A scikit-learn model is also unwrapped: the server predicts through the estimator's own method (the
one pyfunc would call) on frames it has already checked against the signature, which skips pyfunc's
per-request schema enforcement but hands the model the same columns and dtypes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # MLflow takes seconds to import: the server binds its port first
    from mlflow.pyfunc import PyFuncModel
    from mlflow.tracking import MlflowClient

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


class ModelUriError(ValueError):
    pass


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None
    version: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    alias: str | None
    version: str
    run_id: str | None
    source: str | None
    model: PyFuncModel
    #: Input column name -> dtype from the model signature (None without a column-based signature).
    input_schema: dict[str, np.dtype] | None
    #: The scikit-learn method pyfunc.predict would call (None: not a scikit-learn model).
    sklearn_predict: Callable[[Any], Any] | None = None
    #: The estimator declares it handles missing values (scikit-learn's allow_nan input tag).
    allow_nan: bool = False


def parse_model_uri(uri: str) -> ModelRef:
    match = _MODEL_URI.match(uri.strip())
    if not match:
        raise ModelUriError(f"MODEL_URI={uri!r}: expected models:/<name>@<alias> (or models:/<name>/<version>)")
    return ModelRef(match["name"], match["alias"], match["version"])


def load_model(ref: ModelRef, client: MlflowClient) -> LoadedModel:
    if ref.alias is not None:
        version = client.get_model_version_by_alias(ref.name, ref.alias)
    else:
        version = client.get_model_version(ref.name, str(ref.version))
    # Load the resolved version, not the alias: the alias may move between the two calls.
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/{ref.name}/{version.version}")
    schema = model.metadata.get_input_schema()
    dtypes = dict(zip(schema.input_names(), schema.numpy_types())) if schema is not None and schema.has_input_names() else None
    predict, allow_nan = sklearn_method(model)
    return LoadedModel(ref.name, ref.alias, str(version.version), version.run_id, version.source, model, dtypes, predict, allow_nan)


def sklearn_method(model: PyFuncModel) -> tuple[Callable[[Any], Any] | None, bool]:
    """The estimator method behind pyfunc.predict (its `predict_fn`, default predict) and whether the
    estimator takes NaN, or (None, False) for other flavours."""
    if "sklearn" not in model.metadata.flavors:
        return None, False
    from sklearn.utils import get_tags

    estimator = model.get_raw_model()
    method = getattr(estimator, model.metadata.flavors.get("python_function", {}).get("predict_fn", "predict"), None)
    try:
        allow_nan = bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:  # estimators from other libraries may not implement scikit-learn's tags
        allow_nan = False
    return method, allow_nan


def load_with_retries(
    ref: ModelRef,
    client: MlflowClient,
    budget_seconds: float,
    log: Callable[[str], None],
    stop: Callable[[], bool] = lambda: False,
) -> LoadedModel:
    """Retries every failure (server down, alias not set yet) with backoff until the budget is spent."""
    deadline = time.monotonic() + budget_seconds
    delay, attempt = 1.0, 0
    while True:
        attempt += 1
        try:
            return load_model(ref, client)
        except Exception as err:
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop():
                raise RuntimeError(f"could not load {ref.uri} after {attempt} attempt(s) in {budget_seconds:.0f}s: {reason}") from err
            wait = min(delay, 15.0, remaining)
            log(f"model not loaded yet (attempt {attempt}: {reason}); retrying in {wait:.1f}s")
            time.sleep(wait)
            delay *= 2
