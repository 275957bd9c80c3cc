"""The shard spec JSON the orchestration writes (components/shared/studySpec.ts), read and checked.

Errors name the file, the key and what was expected, in one line, because a bad spec is a user or
orchestration mistake, not a trainer bug.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from contract import ENV_JOB_COMPLETION_INDEX, QUEUES

ParamValue = str | int | float | bool | None

MODEL_FAMILIES = ("logistic_regression", "random_forest", "gradient_boosting")
SCORINGS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "roc_auc_ovr")


class SpecError(Exception):
    """The spec file is missing, unreadable or does not match the contract."""


@dataclass(frozen=True)
class GenerateSpec:
    rows: int
    features: int
    informative: int
    classes: int
    weights: tuple[float, ...] | None
    seed: int


@dataclass(frozen=True)
class DatasetSpec:
    source: str
    target: str
    generate: GenerateSpec


@dataclass(frozen=True)
class TrialSpec:
    index: int
    key: str
    params: dict[str, ParamValue]


STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "percentile")


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


@dataclass(frozen=True)
class ShardSpec:
    study_id: str
    experiment_name: str
    model_family: str
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
        return SpecError(f"spec {self.path}: key '{key}': expected {expected}, got {json.dumps(got)[:80]}")

    def get(self, obj: dict[str, Any], key: str, prefix: str = "") -> Any:
        if key not in obj:
            raise SpecError(f"spec {self.path}: key '{prefix}{key}' is missing")
        return obj[key]

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
    return PruningSpec(
        r.text(raw, "kind", "pruning.", PRUNERS),
        r.integer(raw, "afterFolds", "pruning.", 1),
        r.integer(raw, "warmupTrials", "pruning.", 0),
        float(percentile),
    )


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
    dataset = r.obj(raw, "dataset")
    trials = raw.get("trials", [])
    if not isinstance(trials, list):
        raise r.fail("trials", "a list", trials)
    return ShardSpec(
        study_id=r.text(raw, "studyId"),
        experiment_name=r.text(raw, "experimentName"),
        model_family=r.text(raw, "modelFamily", choices=MODEL_FAMILIES),
        scoring=r.text(raw, "scoring", choices=SCORINGS),
        cv_folds=r.integer(raw, "cvFolds", minimum=2),
        test_size=float(test_size),
        seed=r.integer(raw, "seed"),
        dataset=DatasetSpec(
            source=r.text(dataset, "source", "dataset."),
            target=r.text(dataset, "target", "dataset."),
            generate=_generate(r, r.obj(dataset, "generate", "dataset.")),
        ),
        total_trials=r.integer(raw, "totalTrials", minimum=0),
        worker_index=r.integer(raw, "workerIndex", minimum=0) if "workerIndex" in raw else 0,
        workers=r.integer(raw, "workers", minimum=1) if "workers" in raw else 1,
        trials=tuple(_trial(r, t, i) for i, t in enumerate(trials)),
        max_failed_trials=r.integer(raw, "maxFailedTrials", minimum=0) if raw.get("maxFailedTrials") is not None else None,
        search=_search(r, raw.get("search"), len(trials)),
        pruning=_pruning(r, raw.get("pruning")),
        queue=r.text(raw, "queue", choices=QUEUES) if "queue" in raw else "shard",
    )
