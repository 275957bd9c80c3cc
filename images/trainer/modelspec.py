"""The model a study trains: `estimator` (a built-in alias, or the import path of any class with the
scikit-learn estimator API) or `factory` (`module:function` in the user's code, called with the trial's
params), resolved once per worker and built once per trial.

The three aliases build exactly what the trainer built before issue 20 (so existing studies score the
same): logistic regression behind a StandardScaler, the two forests as they are. Trial params go to
the class's constructor; `random_state` is set to the study seed when the class takes it and the params
do not. A factory's own errors, or a factory that returns no estimator, fail the trial (not the worker).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scorers import scoring_problem, task_of_scorer
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from spec import ParamValue

#: The built-in families (the `modelFamily` names of before): alias -> import path.
ALIASES = {
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
    "random_forest": "sklearn.ensemble.RandomForestClassifier",
    "gradient_boosting": "sklearn.ensemble.GradientBoostingClassifier",
}
#: Linear models converge and regularise evenly only on standardised features.
_SCALED_ALIASES = ("logistic_regression",)

EXPECTED_ESTIMATOR = "expected a class with fit and get_params (the scikit-learn estimator API)"


class ModelError(Exception):
    """The spec's estimator or factory cannot be used; `key` is the spec key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def add_code_path(code_path: str | None) -> None:
    """Puts the user's module folder first on the import path (once)."""
    if code_path is None:
        return
    if not os.path.isdir(code_path):
        raise ModelError("codePath", f"{code_path}: no such folder (expected the folder of the user's Python modules)")
    folder = os.path.abspath(code_path)
    for entry in sorted(os.listdir(folder)):
        name = entry[:-3] if entry.endswith(".py") else entry
        loaded = sys.modules.get(name)
        where = getattr(loaded, "__file__", None) or ""
        if loaded is not None and not os.path.abspath(where).startswith(folder + os.sep):
            # Already imported (a trainer module, a library): `import <name>` would never reach the user's file.
            raise ModelError(
                "codePath",
                f"{os.path.join(code_path, entry)}: module {name!r} is already taken by {where or 'a built-in module'}: rename it",
            )
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import(key: str, module_name: str, attribute: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ModelError(key, f"cannot import module {module_name!r}: {err}") from None
    except Exception as err:  # the user's module raised while importing
        raise ModelError(key, f"importing module {module_name!r} raised {type(err).__name__}: {err}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ModelError(key, f"module {module_name!r} has no attribute {attribute!r}") from None


def is_estimator(obj: object) -> bool:
    return callable(getattr(obj, "fit", None)) and callable(getattr(obj, "get_params", None))


def task_of(estimator: object) -> str | None:
    """classification | regression | None (neither: e.g. a transformer, or an API without the tags)."""
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


@dataclass(frozen=True)
class ModelSource:
    """What `estimator` or `factory` resolved to; `build` makes one trial's estimator."""

    #: "estimator" or "factory": the spec key.
    key: str
    #: As the spec wrote it (an alias, an import path, `module:function`).
    name: str
    cls: type | None = None
    factory: Callable[..., Any] | None = None
    scaled: bool = False

    @property
    def identity(self) -> str:
        """`module.Class` of the estimator (the public path for an alias), or the factory's `module:function`."""
        if self.cls is None:
            return self.name
        return ALIASES.get(self.name, self.name)

    def _default_instance(self) -> Any | None:
        """The class built with no arguments; None when it needs some (e.g. StackingClassifier)."""
        assert self.cls is not None
        try:
            return self.cls()
        except Exception:
            return None

    def param_names(self) -> list[str]:
        """The constructor's parameters: get_params() of a default instance (XGBoost takes most of
        them through **kwargs), else the constructor's signature."""
        assert self.cls is not None
        instance = self._default_instance()
        if instance is not None:
            return sorted(instance.get_params(deep=False))
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return sorted(n for n, p in inspect.signature(self.cls).parameters.items() if p.kind not in variadic)

    def accepted_params(self) -> list[str] | None:
        """The parameter names a trial may set (None for a factory or a Pipeline class: not checked)."""
        if self.cls is None or issubclass(self.cls, Pipeline):
            return None
        return self.param_names()

    def declared_task(self) -> str | None:
        """The task of the estimator class (None for a factory: known only once it is called)."""
        if self.cls is None:
            return None
        instance = self._default_instance()
        return task_of(instance) if instance is not None else None

    def build(self, params: Mapping[str, ParamValue], seed: int) -> Any:
        """One trial's estimator. A bad parameter raises TypeError/ValueError (the trial fails)."""
        if self.factory is not None:
            return self._call_factory(params)
        assert self.cls is not None
        kwargs = dict(params)
        if "random_state" in self.param_names():
            kwargs.setdefault("random_state", seed)
        estimator = self.cls(**kwargs)
        return Pipeline([("scale", StandardScaler()), ("model", estimator)]) if self.scaled else estimator

    def _call_factory(self, params: Mapping[str, ParamValue]) -> Any:
        assert self.factory is not None
        try:
            built = self.factory(**params)
        except Exception as err:
            raise FactoryFailed(f"factory {self.name}(**{dict(params)}) raised {type(err).__name__}: {err}") from err
        if not is_estimator(built) or inspect.isclass(built):
            raise FactoryFailed(
                f"factory {self.name} returned {type(built).__name__}: expected an estimator instance with fit and get_params"
            )
        return built


class FactoryFailed(Exception):
    """The user's factory raised or returned no estimator: the trial fails with this message."""


def resolve_model(estimator: str | None, factory: str | None) -> ModelSource:
    """Imports the estimator class or the factory function (the factory is not called). Raises ModelError."""
    if factory is not None:
        module_name, _, function = factory.partition(":")
        fn = _import("factory", module_name, function)
        if not callable(fn) or inspect.isclass(fn):
            raise ModelError("factory", f"{factory} is a {type(fn).__name__}: expected a function that returns an estimator")
        return ModelSource("factory", factory, factory=fn)
    assert estimator is not None
    path = ALIASES.get(estimator, estimator)
    module_name, dot, class_name = path.rpartition(".")
    if not dot or not module_name:
        aliases = ", ".join(ALIASES)
        raise ModelError("estimator", f"{estimator!r}: expected one of {aliases} or an import path such as sklearn.svm.SVC")
    cls = _import("estimator", module_name, class_name)
    if not inspect.isclass(cls) or not is_estimator(cls):
        raise ModelError("estimator", f"{estimator} is not an estimator: {EXPECTED_ESTIMATOR}")
    return ModelSource("estimator", estimator, cls=cls, scaled=estimator in _SCALED_ALIASES)


def decide_task(model: ModelSource, task: str | None, scorer_task: str | None) -> str:
    """The spec's task, checked against the estimator class; else the class's; else (a factory, or a
    class without tags) the scorer's. Raises ModelError when they disagree or nothing tells."""
    declared = model.declared_task()
    if task is not None:
        if declared is not None and declared != task:
            raise ModelError("task", f"task is {task} but {model.identity} is a {declared} estimator")
        return task
    if declared is not None:
        return declared
    if scorer_task is not None:
        return scorer_task
    raise ModelError("task", f"cannot tell whether {model.identity} classifies or regresses: set task to classification or regression")


def study_task(model: ModelSource, task: str | None, scoring: str) -> str:
    """The study's task (decide_task), with the scorer checked to fit it (config/scorers.json)."""
    problem = scoring_problem(scoring, task)
    if problem is not None:
        raise ModelError("scoring", problem)
    decided = decide_task(model, task, task_of_scorer(scoring))
    problem = scoring_problem(scoring, decided)
    if problem is not None:
        raise ModelError("scoring", problem)
    return decided


def check_built(estimator: Any, task: str, name: str) -> None:
    """A built estimator of the wrong task fails its trial (a factory can return anything)."""
    built = task_of(estimator)
    if built is not None and built != task:
        raise FactoryFailed(f"{name} built a {built} estimator ({type(estimator).__name__}) but the task is {task}")
