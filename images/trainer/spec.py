"""The shard spec JSON the orchestration writes (components/shared/studySpec.ts), read and checked.

Errors name the file, the key and what was expected, in one line, because a bad spec is a user or
orchestration mistake, not a trainer bug. The model is `estimator` (an alias of a built-in family or
the import path of a scikit-learn-API class) or `factory` (`module:function` in the user's code at
`codePath`); what those resolve to is checked by modelspec.py, which columns mean what by dataset.py
and features.py, and which scorer fits which task by scorers.py (config/scorers.json).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from contract import ENV_JOB_COMPLETION_INDEX, QUEUES
from scorers import TASKS

ParamValue = str | int | float | bool | None

NUMERIC_IMPUTE = ("median", "mean", "zero", "none")
CATEGORICAL_IMPUTE = ("most_frequent", "constant", "none")
#: An exact pin: `name==version` (extras allowed), what `requirements` takes.
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")


class SpecError(Exception):
    """The spec file is missing, unreadable or does not match the contract; `key` is the spec key
    at fault when there is one (`trainer.py check` reports it)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class GenerateSpec:
    rows: int
    features: int
    informative: int
    classes: int
    weights: tuple[float, ...] | None
    seed: int


@dataclass(frozen=True)
class FeaturesSpec:
    """Declared columns: numeric ones imputed per `impute_numeric`, categorical ones (read as strings)
    imputed per `impute_categorical` and one-hot encoded, `drop` ones left out; no other column may exist
    besides the target and the group column."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    impute_numeric: str = "median"
    impute_categorical: str = "most_frequent"


@dataclass(frozen=True)
class DatasetSpec:
    source: str
    target: str
    generate: GenerateSpec
    #: Rows sharing a value of this column stay on one side of every split (GroupKFold and co.).
    group_column: str | None = None
    #: None: every column but the target (and group) is a numeric feature, as before issue 20.
    features: FeaturesSpec | None = None


@dataclass(frozen=True)
class TrialSpec:
    index: int
    key: str
    params: dict[str, ParamValue]


STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "percentile", "wilcoxon")


@dataclass(frozen=True)
class SearchSpec:
    """grid/random: `trials` is the fixed list, enqueued once; tpe: `budget` trials sampled from `space`."""

    kind: str
    budget: int
    seed: int
    #: tpe only: parameter name -> {"values": [...]} | {"type": "int"|"float", "low", "high", "step"?, "log"}.
    space: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class PruningSpec:
    kind: str = "none"
    after_folds: int = 1
    warmup_trials: int = 5
    percentile: float = 25.0
    #: wilcoxon only: prune when the one-sided Wilcoxon test of this trial's fold scores against the
    #: best trial's has a p-value below this.
    p_threshold: float = 0.1


@dataclass(frozen=True)
class ShardSpec:
    study_id: str
    experiment_name: str
    #: Exactly one of `estimator` (alias or `module.Class`) and `factory` (`module:function`) is set.
    estimator: str | None
    factory: str | None
    scoring: str
    cv_folds: int
    test_size: float
    seed: int
    dataset: DatasetSpec
    total_trials: int
    worker_index: int
    workers: int
    trials: tuple[TrialSpec, ...]
    #: More failed trials than this fails the train phase; None: no limit (but some trial must finish).
    max_failed_trials: int | None = None
    search: SearchSpec | None = None
    pruning: PruningSpec = PruningSpec()
    #: "journal": every worker pulls from one study in an Optuna journal file beside the spec (local
    #: platform); "rdb": the same in the database at env MLOPS_OPTUNA_STORAGE (the stack's PostgreSQL);
    #: "shard": each worker runs its own `trials` (trial i on worker i % workers).
    queue: str = "shard"
    #: "classification" | "regression"; None: taken from the estimator (modelspec.decide_task).
    task: str | None = None
    #: The user's module folder as the worker sees it (sys.path[0]; logged with the model).
    code_path: str | None = None
    #: Exact pins logged with the model (the platform installs them; the trainer does not).
    requirements: tuple[str, ...] = ()

    @property
    def model_name(self) -> str:
        """The model as the spec names it: the estimator's alias or import path, or the factory."""
        return self.estimator if self.estimator is not None else f"factory {self.factory}"


def resolve_spec_path(pattern: str, worker_index: int | None) -> tuple[str, int | None]:
    """Replaces `{index}` by the worker index: the flag, else JOB_COMPLETION_INDEX (Kubernetes Indexed Job)."""
    if worker_index is None and os.environ.get(ENV_JOB_COMPLETION_INDEX, "").strip():
        raw = os.environ[ENV_JOB_COMPLETION_INDEX].strip()
        if not raw.isdigit():
            raise SpecError(f"{ENV_JOB_COMPLETION_INDEX}={raw!r}: expected a non-negative integer")
        worker_index = int(raw)
    if "{index}" not in pattern:
        return pattern, worker_index
    if worker_index is None:
        raise SpecError(f"--spec {pattern}: contains {{index}}; expected --worker-index K or env {ENV_JOB_COMPLETION_INDEX}")
    return pattern.replace("{index}", str(worker_index)), worker_index


class _Reader:
    """Typed access to the parsed JSON that reports `<file>: key '<a.b>': expected ...`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, expected: str, got: Any) -> SpecError:
        return SpecError(f"spec {self.path}: key '{key}': expected {expected}, got {json.dumps(got)[:80]}", key)

    def get(self, obj: dict[str, Any], key: str, prefix: str = "") -> Any:
        if key not in obj:
            raise SpecError(f"spec {self.path}: key '{prefix}{key}' is missing", prefix + key)
        return obj[key]

    def optional_text(self, obj: dict[str, Any], key: str, prefix: str = "", choices: tuple[str, ...] = ()) -> str | None:
        return self.text(obj, key, prefix, choices) if obj.get(key) is not None else None

    def names(self, obj: dict[str, Any], key: str, prefix: str = "") -> tuple[str, ...]:
        value = obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(prefix + key, "a list of column names", value)
        return tuple(value)

    def integer(self, obj: dict[str, Any], key: str, prefix: str = "", minimum: int | None = None) -> int:
        value = self.get(obj, key, prefix)
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            raise self.fail(prefix + key, "an integer" + (f" >= {minimum}" if minimum is not None else ""), value)
        return value

    def text(self, obj: dict[str, Any], key: str, prefix: str = "", choices: tuple[str, ...] = ()) -> str:
        value = self.get(obj, key, prefix)
        if not isinstance(value, str) or not value or (choices and value not in choices):
            raise self.fail(prefix + key, f"one of {', '.join(choices)}" if choices else "a non-empty string", value)
        return value

    def obj(self, obj: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value = self.get(obj, key, prefix)
        if not isinstance(value, dict):
            raise self.fail(prefix + key, "an object", value)
        return value


def _generate(r: _Reader, raw: dict[str, Any]) -> GenerateSpec:
    p = "dataset.generate."
    weights = raw.get("weights")
    if weights is not None and (not isinstance(weights, list) or not all(isinstance(w, (int, float)) and w > 0 for w in weights)):
        raise r.fail(p + "weights", "a list of positive numbers", weights)
    return GenerateSpec(
        rows=r.integer(raw, "rows", p, 2),
        features=r.integer(raw, "features", p, 1),
        informative=r.integer(raw, "informative", p, 1),
        classes=r.integer(raw, "classes", p, 2),
        weights=tuple(float(w) for w in weights) if weights is not None else None,
        seed=r.integer(raw, "seed", p),
    )


def _trial(r: _Reader, raw: Any, position: int) -> TrialSpec:
    p = f"trials[{position}]."
    if not isinstance(raw, dict):
        raise r.fail(f"trials[{position}]", "an object", raw)
    params = r.obj(raw, "params", p)
    for name, value in params.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise r.fail(f"{p}params.{name}", "a string, number, boolean or null", value)
    return TrialSpec(index=r.integer(raw, "index", p, 0), key=r.text(raw, "key", p), params=dict(params))


def _search(r: _Reader, raw: Any, trials: int) -> SearchSpec:
    if raw is None:  # a spec from before adaptive search: its trials are the whole study
        return SearchSpec("grid", trials, 0, {})
    if not isinstance(raw, dict):
        raise r.fail("search", "an object", raw)
    kind = r.text(raw, "kind", "search.", STRATEGIES)
    space = r.obj(raw, "space", "search.") if kind == "tpe" else {}
    for name, param in space.items():
        if not isinstance(param, dict) or not (
            isinstance(param.get("values"), list) and param["values"] or param.get("type") in ("int", "float")
        ):
            raise r.fail(f"search.space.{name}", "{values: [...]} or {type: int|float, low, high}", param)
    return SearchSpec(kind, r.integer(raw, "budget", "search.", 0), r.integer(raw, "seed", "search."), space)


def _pruning(r: _Reader, raw: Any) -> PruningSpec:
    if raw is None:
        return PruningSpec()
    if not isinstance(raw, dict):
        raise r.fail("pruning", "an object", raw)
    percentile = raw.get("percentile", 25.0)
    if not isinstance(percentile, (int, float)) or isinstance(percentile, bool) or not 0 < percentile < 100:
        raise r.fail("pruning.percentile", "a number between 0 and 100", percentile)
    p_threshold = raw.get("pThreshold", 0.1)
    if not isinstance(p_threshold, (int, float)) or isinstance(p_threshold, bool) or not 0 < p_threshold < 1:
        raise r.fail("pruning.pThreshold", "a number between 0 and 1", p_threshold)
    return PruningSpec(
        r.text(raw, "kind", "pruning.", PRUNERS),
        r.integer(raw, "afterFolds", "pruning.", 1),
        r.integer(raw, "warmupTrials", "pruning.", 0),
        float(percentile),
        float(p_threshold),
    )


def _features(r: _Reader, raw: Any) -> FeaturesSpec | None:
    if raw is None:
        return None
    p = "dataset.features."
    if not isinstance(raw, dict):
        raise r.fail("dataset.features", "an object", raw)
    impute = raw.get("impute", {})
    if not isinstance(impute, dict):
        raise r.fail(p + "impute", "an object", impute)
    features = FeaturesSpec(
        numeric=r.names(raw, "numeric", p),
        categorical=r.names(raw, "categorical", p),
        drop=r.names(raw, "drop", p),
        impute_numeric=r.text(impute, "numeric", p + "impute.", NUMERIC_IMPUTE) if "numeric" in impute else "median",
        impute_categorical=r.text(impute, "categorical", p + "impute.", CATEGORICAL_IMPUTE) if "categorical" in impute else "most_frequent",
    )
    seen: dict[str, str] = {}
    for kind in ("numeric", "categorical", "drop"):
        for name in getattr(features, kind):
            if name in seen:
                raise SpecError(f"spec {r.path}: key '{p}{kind}': column {name!r} is already declared {seen[name]}", p + kind)
            seen[name] = kind
    if not features.numeric and not features.categorical:
        raise r.fail("dataset.features", "at least one numeric or categorical column", raw)
    return features


def _dataset(r: _Reader, raw: dict[str, Any]) -> DatasetSpec:
    p = "dataset."
    spec = DatasetSpec(
        source=r.text(raw, "source", p),
        target=r.text(raw, "target", p),
        generate=_generate(r, r.obj(raw, "generate", p)),
        group_column=r.optional_text(raw, "groupColumn", p),
        features=_features(r, raw.get("features")),
    )
    declared = set(spec.features.numeric + spec.features.categorical + spec.features.drop) if spec.features else set()
    for key, column in (("target", spec.target), ("groupColumn", spec.group_column)):
        if column is not None and column in declared:
            raise SpecError(f"spec {r.path}: key '{p}features': column {column!r} is the {key} and cannot be a feature", p + "features")
    if spec.group_column is not None and spec.group_column == spec.target:
        raise r.fail(p + "groupColumn", "a column other than the target", spec.group_column)
    return spec


def _model(r: _Reader, raw: dict[str, Any]) -> tuple[str | None, str | None]:
    """(estimator, factory): exactly one. A spec from before issue 20 names `modelFamily`, which reads
    as the estimator alias it is."""
    estimator = r.optional_text(raw, "estimator")
    if "modelFamily" in raw:
        if estimator is not None:
            raise r.fail("modelFamily", "no modelFamily beside estimator (modelFamily is the older name of estimator)", raw["modelFamily"])
        estimator = r.text(raw, "modelFamily")
    factory = r.optional_text(raw, "factory")
    if (estimator is None) == (factory is None):
        key = "factory" if factory is not None else "estimator"
        raise SpecError(f"spec {r.path}: key '{key}': expected exactly one of 'estimator' and 'factory'", key)
    if factory is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", factory):
        raise r.fail("factory", '"<module>:<function>", e.g. "my_models:build"', factory)
    return estimator, factory


def _requirements(r: _Reader, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail("requirements", "a list of exact pins (name==version)", raw)
    for i, pin in enumerate(raw):
        if not isinstance(pin, str) or not _PIN.match(pin):
            raise r.fail(f"requirements[{i}]", "an exact pin such as xgboost==3.0.5", pin)
    return tuple(raw)


def load_shard_spec(path: str) -> ShardSpec:
    """Reads a ShardSpec; a StudySpec without `trials` (enough for `prepare`) reads as an empty shard."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as err:
        raise SpecError(f"spec {path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise SpecError(f"spec {path}: not valid JSON: {err.msg} at line {err.lineno}") from None
    r = _Reader(path)
    if not isinstance(raw, dict):
        raise r.fail("(top level)", "an object", raw)
    if raw.get("schemaVersion") != 1:
        raise r.fail("schemaVersion", "1", raw.get("schemaVersion"))
    test_size = r.get(raw, "testSize")
    if not isinstance(test_size, (int, float)) or isinstance(test_size, bool) or not 0 < test_size < 1:
        raise r.fail("testSize", "a number between 0 and 1", test_size)
    estimator, factory = _model(r, raw)
    scoring = r.text(raw, "scoring")  # which scorers fit which task: modelspec.study_task
    task = r.optional_text(raw, "task", choices=TASKS)
    trials = raw.get("trials", [])
    if not isinstance(trials, list):
        raise r.fail("trials", "a list", trials)
    return ShardSpec(
        study_id=r.text(raw, "studyId"),
        experiment_name=r.text(raw, "experimentName"),
        estimator=estimator,
        factory=factory,
        scoring=scoring,
        cv_folds=r.integer(raw, "cvFolds", minimum=2),
        test_size=float(test_size),
        seed=r.integer(raw, "seed"),
        dataset=_dataset(r, r.obj(raw, "dataset")),
        total_trials=r.integer(raw, "totalTrials", minimum=0),
        worker_index=r.integer(raw, "workerIndex", minimum=0) if "workerIndex" in raw else 0,
        workers=r.integer(raw, "workers", minimum=1) if "workers" in raw else 1,
        trials=tuple(_trial(r, t, i) for i, t in enumerate(trials)),
        max_failed_trials=r.integer(raw, "maxFailedTrials", minimum=0) if raw.get("maxFailedTrials") is not None else None,
        search=_search(r, raw.get("search"), len(trials)),
        pruning=_pruning(r, raw.get("pruning")),
        queue=r.text(raw, "queue", choices=QUEUES) if "queue" in raw else "shard",
        task=task,
        code_path=r.optional_text(raw, "codePath"),
        requirements=_requirements(r, raw.get("requirements")),
    )
