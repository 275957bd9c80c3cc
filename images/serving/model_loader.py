"""Resolves `models:/<name>@<alias>` to one registered version and loads it, retrying while the
tracking server is not answering yet (it may start after the serving replicas).

A scikit-learn model is also unwrapped: the server predicts through the estimator's own methods (the
one pyfunc would call, and predict_proba) on frames it has already checked against the signature,
which skips pyfunc's per-request schema enforcement but hands the model the same columns and dtypes.
Any estimator with the scikit-learn API logged with mlflow.sklearn (a Pipeline with a
ColumnTransformer, XGBoost's XGBClassifier) is unwrapped the same way; user code logged with
`code_paths` is put on sys.path by mlflow.pyfunc.load_model before the model is unpickled.

Whether the model takes missing values (null/NaN) is decided per column, from three sources:
scikit-learn's `allow_nan` input tag (HistGradientBoosting, XGBoost), the model metadata key
ALLOW_MISSING_KEY set to true when the model was logged (a Pipeline whose imputer runs inside a
ColumnTransformer: scikit-learn's tags cannot see it), and the signature's optional columns (MLflow
marks a column optional when the data the signature was inferred from had missing values there)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # MLflow takes seconds to import: the server binds its port first
    from mlflow.pyfunc import PyFuncModel
    from mlflow.tracking import MlflowClient

#: The MLflow model metadata key (log_model(..., metadata={ALLOW_MISSING_KEY: True})) saying the
#: model imputes missing values itself in every column.
ALLOW_MISSING_KEY = "mlops_allow_missing"
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
    #: The scikit-learn estimator's methods by request name: "predict" is the one pyfunc.predict
    #: would call (its `predict_fn`), "predict_proba" is there when the estimator has it. Empty: not
    #: a scikit-learn model (pyfunc.predict is the only method).
    sklearn_methods: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: The class labels in the order of predict_proba's columns (None: not a classifier).
    classes: list[Any] | None = None
    #: The whole model takes missing values (the allow_nan tag or the ALLOW_MISSING_KEY metadata).
    allow_nan: bool = False
    #: Columns the signature marks optional: the model was fitted on missing values there.
    optional_columns: frozenset[str] = frozenset()


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
    return describe(ref, str(version.version), version.run_id, version.source, model)


def describe(ref: ModelRef, version: str, run_id: str | None, source: str | None, model: PyFuncModel) -> LoadedModel:
    """What the server needs to know about a loaded pyfunc model: its columns, methods and classes."""
    schema = model.metadata.get_input_schema()
    named = schema is not None and schema.has_input_names()
    dtypes = dict(zip(schema.input_names(), schema.numpy_types())) if named else None
    optional = frozenset(c.name for c in schema.inputs if not c.required) if named else frozenset()
    methods, classes, allow_nan = sklearn_methods(model)
    allow_nan = allow_nan or _metadata_allows_missing(model)
    return LoadedModel(ref.name, ref.alias, version, run_id, source, model, dtypes, methods, classes, allow_nan, optional)


def sklearn_methods(model: PyFuncModel) -> tuple[dict[str, Callable[[Any], Any]], list[Any] | None, bool]:
    """The estimator's methods by request name, its classes and whether it takes NaN (its allow_nan
    tag), or ({}, None, False) for other flavours."""
    if "sklearn" not in model.metadata.flavors:
        return {}, None, False
    from sklearn.utils import get_tags

    estimator = model.get_raw_model()
    methods = {"predict": getattr(estimator, model.metadata.flavors.get("python_function", {}).get("predict_fn", "predict"))}
    proba = getattr(estimator, "predict_proba", None)  # a Pipeline has it only when its last step does
    classes = getattr(estimator, "classes_", None)
    if proba is not None and classes is not None:
        methods["predict_proba"] = proba
    try:
        allow_nan = bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:  # estimators from other libraries may not implement scikit-learn's tags
        allow_nan = False
    return methods, (np.asarray(classes).tolist() if classes is not None else None), allow_nan


def _metadata_allows_missing(model: PyFuncModel) -> bool:
    value = (model.metadata.metadata or {}).get(ALLOW_MISSING_KEY)
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


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
