"""The trial queue: workers pull trials from ONE Optuna study until the budget is spent.

grid and random are a fixed list enqueued once (by `prepare`); tpe samples each new trial from what
the study has learnt so far. Every worker runs the same loop: take a waiting trial or sample a new
one within the budget, run it (runner.py; MLflow stays the record of results), tell the study,
repeat; a worker whose queue is empty waits while other workers still run trials, because a dead
worker's trial comes back to the queue.

Heartbeats are ours, not Optuna's: JournalStorage (the local platform's multi-process store) has none.
A running trial's worker stamps it every `heartbeat` seconds; a trial whose stamp is older than
`grace` is failed and re-enqueued once per failure by the one worker whose FAIL the storage accepted
(a FAIL on an already finished trial raises UpdateFinishedTrialError, so two reapers cannot both
requeue it). The retry finds the dead attempt's RUNNING MLflow run by trial key and resumes it, so a
trial key never gets two FINISHED runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import optuna
from contract import ATTR_INDEX, ATTR_KEY, ATTR_PARAMS, ENV_HEARTBEAT_GRACE_SECONDS, ENV_HEARTBEAT_SECONDS, ENV_OPTUNA_STORAGE
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState, create_trial
from optunadb import DatabaseSetupError, ensure_database
from spec import PruningSpec, ShardSpec, TrialSpec

SYS_HEARTBEAT = "mlops:heartbeat"
SYS_RETRY_OF = "mlops:retry_of"
SYS_SURPLUS = "mlops:surplus"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Heartbeats:
    interval_seconds: float = 5.0
    grace_seconds: float = 60.0
    #: How often an idle worker looks again while others still run trials.
    poll_seconds: float = 2.0

    @staticmethod
    def from_env() -> Heartbeats:
        """MLOPS_HEARTBEAT_SECONDS / MLOPS_HEARTBEAT_GRACE_SECONDS (Optuna's heartbeat_interval / grace_period)."""
        values: dict[str, float] = {}
        for env, field in ((ENV_HEARTBEAT_SECONDS, "interval_seconds"), (ENV_HEARTBEAT_GRACE_SECONDS, "grace_seconds")):
            raw = os.environ.get(env, "").strip()
            if raw:
                try:
                    values[field] = float(raw)
                except ValueError:
                    raise ValueError(f"{env}={raw!r}: expected a number of seconds") from None
        beats = Heartbeats(**values)
        if beats.grace_seconds < 2 * beats.interval_seconds:
            raise ValueError(
                f"{ENV_HEARTBEAT_GRACE_SECONDS}={beats.grace_seconds:g}: expected at least twice {ENV_HEARTBEAT_SECONDS} ({beats.interval_seconds:g})"
            )
        return beats


def journal_path(spec: ShardSpec, spec_path: str) -> str:
    """Beside the spec: the local fan-out writes every worker's spec into one folder per study."""
    return os.path.join(os.path.dirname(os.path.abspath(spec_path)), f"optuna-{spec.study_id}.journal")


class QueueError(Exception):
    """The spec's queue and the environment disagree."""


def open_storage(spec: ShardSpec, spec_path: str) -> tuple[BaseStorage, bool]:
    """(storage, shared): the spec's queue: an RDB at MLOPS_OPTUNA_STORAGE (the stack's PostgreSQL),
    a journal file (local platform), or a private in-memory study over this worker's own shard."""
    url = os.environ.get(ENV_OPTUNA_STORAGE, "").strip()
    if spec.queue == "rdb":
        if not url:
            raise QueueError(
                f'spec queue "rdb": set {ENV_OPTUNA_STORAGE} to the database URL (e.g. postgresql://user:password@host:5432/optuna)'
            )
        try:
            ensure_database(url)
        except DatabaseSetupError as err:
            raise QueueError(f"{ENV_OPTUNA_STORAGE}: {err}") from None
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}), True
    if url:
        # A shard spec holds only this worker's trials: enqueuing them into a shared study would lose the rest.
        raise QueueError(
            f'{ENV_OPTUNA_STORAGE} is set but the spec\'s queue is "{spec.queue}": plan the study with queue "rdb" so every worker holds the whole trial list'
        )
    if spec.queue == "journal":
        return JournalStorage(JournalFileBackend(journal_path(spec, spec_path))), True
    return InMemoryStorage(), False


def pruner(pruning: PruningSpec) -> optuna.pruners.BasePruner:
    """median/percentile: the trial reports its running CV mean after fold k as step k (1-based);
    wilcoxon (made for k-fold CV): each fold's own score at step = the fold's index (0-based), compared
    fold by fold with the best trial's (every trial has the same folds)."""
    if pruning.kind == "wilcoxon":
        with warnings.catch_warnings():  # "experimental" since Optuna 3.6: the warning would repeat in every worker log
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=pruning.p_threshold, n_startup_steps=pruning.after_folds)
    if pruning.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=pruning.warmup_trials, n_warmup_steps=pruning.after_folds)
    if pruning.kind == "percentile":
        return optuna.pruners.PercentilePruner(
            pruning.percentile, n_startup_trials=pruning.warmup_trials, n_warmup_steps=pruning.after_folds
        )
    return optuna.pruners.NopPruner()


def open_study(storage: BaseStorage, spec: ShardSpec) -> optuna.Study:
    search = spec.search
    assert search is not None
    # grid/random never sample (their trials are enqueued); the sampler only matters for tpe. Each worker
    # gets its own seed: with one seed, W workers would sample the same first trials W times over
    # (TPE's startup trials are random), spending the budget on duplicates. Worker 0 keeps the config's
    # seed, so a one-worker study is reproducible.
    seed = search.seed + spec.worker_index
    sampler = optuna.samplers.TPESampler(seed=seed) if search.kind == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    return optuna.create_study(
        storage=storage, study_name=spec.study_id, direction="maximize", sampler=sampler, pruner=pruner(spec.pruning), load_if_exists=True
    )


def restart_study(storage: BaseStorage, spec: ShardSpec) -> optuna.Study:
    """Drops the study's queue (every trial and its state) and opens it empty."""
    optuna.delete_study(study_name=spec.study_id, storage=storage)
    return open_study(storage, spec)


def enqueue_fixed(study: optuna.Study, trials: tuple[TrialSpec, ...]) -> int:
    """Enqueues the trials whose key the study does not hold yet (a repeated prepare adds nothing)."""
    present = {t.user_attrs.get(ATTR_KEY) for t in study.get_trials(deepcopy=False)}
    added = 0
    for trial in trials:
        if trial.key in present:
            continue
        study.enqueue_trial({}, user_attrs={ATTR_KEY: trial.key, ATTR_INDEX: trial.index, ATTR_PARAMS: json.dumps(trial.params)})
        added += 1
    return added


def _is_retry(trial: FrozenTrial) -> bool:
    return SYS_RETRY_OF in trial.system_attrs


def budget_used(trials: list[FrozenTrial]) -> int:
    """Trials that spend the budget: every one except re-enqueued retries of a dead worker's trial."""
    return sum(1 for t in trials if not _is_retry(t))


def is_surplus(trial: FrozenTrial, trials: list[FrozenTrial], spec: ShardSpec) -> bool:
    """A sampled trial beyond the budget (two workers asked for the last one at once). Decided from
    the trials numbered before it only, so every worker reaches the same answer."""
    if ATTR_KEY in trial.user_attrs or _is_retry(trial):
        return False  # enqueued by prepare, or a retry
    assert spec.search is not None
    if spec.search.kind != "tpe":
        return True  # a fixed list never samples: the queue was empty when this worker asked
    return budget_used([t for t in trials if t.number < trial.number]) >= spec.search.budget


def reap_stale(study: optuna.Study, beats: Heartbeats, log: Callable[[str], None]) -> int:
    """Fails RUNNING trials whose heartbeat is older than the grace period and re-enqueues them."""
    now = time.time()
    reaped = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        beat = float(trial.system_attrs.get(SYS_HEARTBEAT, start))
        if now - beat <= beats.grace_seconds:
            continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # it finished, or another worker reaped it first
        study.add_trial(
            create_trial(
                state=TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
                system_attrs={SYS_RETRY_OF: trial.number},
            )
        )
        log(
            f"trial {trial.number} ({trial.user_attrs.get(ATTR_KEY, 'unsampled')}): no heartbeat for {now - beat:.0f}s (grace {beats.grace_seconds:g}s): its worker is gone; back in the queue"
        )
        reaped += 1
    return reaped


class Heartbeat:
    """Stamps the trial now and every `interval` seconds until the block ends."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)

    def _beat(self) -> None:
        try:
            self._storage.set_trial_system_attr(self._trial_id, SYS_HEARTBEAT, time.time())
        except Exception:  # reaped or finished meanwhile: nothing left to keep alive
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._beat()

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


def suggest_params(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """tpe: one value per parameter, in sorted name order (a retry gets its dead attempt's values)."""
    params: dict[str, Any] = {}
    for name in sorted(space):
        spec = space[name]
        if "values" in spec:
            params[name] = trial.suggest_categorical(name, spec["values"])
        elif spec["type"] == "int":
            log = bool(spec.get("log", False))
            params[name] = trial.suggest_int(
                name, int(spec["low"]), int(spec["high"]), step=1 if log else int(spec.get("step", 1)), log=log
            )
        else:
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
    return params


def sampled_key(model: str, params: dict[str, Any]) -> str:
    """The key of a sampled trial: for an estimator alias the same as before issue 20 (the hash keeps
    its `modelFamily` field name), so existing studies keep their keys."""
    return hashlib.sha256(json.dumps({"modelFamily": model, "params": params}, sort_keys=True).encode()).hexdigest()[:16]


def trial_spec(trial: optuna.Trial, spec: ShardSpec) -> TrialSpec:
    """The trial's identity: from the enqueued attrs, or sampled now (tpe) and recorded on the trial."""
    attrs = trial.user_attrs
    if spec.search is not None and spec.search.kind == "tpe":
        params = suggest_params(trial, spec.search.space)
        if ATTR_KEY not in attrs:
            trial.set_user_attr(ATTR_KEY, sampled_key(spec.estimator or str(spec.factory), params))
            trial.set_user_attr(ATTR_INDEX, trial.number)
            trial.set_user_attr(ATTR_PARAMS, json.dumps(params))
        return TrialSpec(index=int(trial.user_attrs[ATTR_INDEX]), key=str(trial.user_attrs[ATTR_KEY]), params=params)
    return TrialSpec(index=int(attrs[ATTR_INDEX]), key=str(attrs[ATTR_KEY]), params=json.loads(attrs[ATTR_PARAMS]))


@dataclass(frozen=True)
class QueueCounts:
    finished: int
    pruned: int
    failed: int
    running: int
    waiting: int
    fold_fits: int


def queue_counts(trials: list[FrozenTrial], folds: int) -> QueueCounts:
    """Surplus trials and dead attempts that were re-enqueued are not results: they are left out."""
    retried = {int(t.system_attrs[SYS_RETRY_OF]) for t in trials if _is_retry(t)}
    counted = [t for t in trials if not t.system_attrs.get(SYS_SURPLUS) and t.number not in retried]
    by_state = {state: sum(1 for t in counted if t.state == state) for state in TrialState}
    fold_fits = sum(folds if t.state == TrialState.COMPLETE else len(t.intermediate_values) for t in counted)
    return QueueCounts(
        by_state[TrialState.COMPLETE],
        by_state[TrialState.PRUNED],
        by_state[TrialState.FAIL],
        by_state[TrialState.RUNNING],
        by_state[TrialState.WAITING],
        fold_fits,
    )
