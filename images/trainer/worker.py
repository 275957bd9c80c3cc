"""One worker's pull loop: ask the study for a trial, fit it, record and tell the result, publish
progress. Recording a fitted trial (its model upload, metrics, FINISHED, the tell) runs on one
background thread while the next trial fits, so the worker's cores do not wait on MLflow; at most
one trial is being recorded at a time, and its heartbeat runs until it is told, so a worker killed
mid-record loses nothing (its trial returns to the queue and the retry resumes its run)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import optuna
from contract import ATTR_ERROR, PROGRESS_BUDGET, PROGRESS_FAILED, PROGRESS_FINISHED, PROGRESS_FOLD_FITS, PROGRESS_PRUNED, PROGRESS_RUNNING
from mlflow.entities import Metric
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from runner import FittedTrial, Outcome, ShardContext, TrialResult, fit_trial, record_trial
from trialqueue import SYS_SURPLUS, Heartbeat, Heartbeats, budget_used, is_surplus, queue_counts, reap_stale, trial_spec
from verdict import study_counts

#: Metrics on the study run that say how far the train phase is (see progress.ts for the reader).
PROGRESS_METRICS = (PROGRESS_FINISHED, PROGRESS_PRUNED, PROGRESS_FAILED, PROGRESS_RUNNING, PROGRESS_BUDGET, PROGRESS_FOLD_FITS)


@dataclass(frozen=True)
class Progress:
    finished: int
    pruned: int
    failed: int
    running: int
    budget: int
    fold_fits: int


def read_progress(ctx: ShardContext, study: optuna.Study, shared: bool) -> Progress:
    """From the shared study when there is one (all workers' trials); else from MLflow, which every
    shard-mode worker writes to."""
    budget = ctx.spec.total_trials
    if shared:
        c = queue_counts(study.get_trials(deepcopy=False), ctx.spec.cv_folds)
        return Progress(c.finished, c.pruned, c.failed, c.running, budget, c.fold_fits)
    m = study_counts(ctx.tracking, ctx.experiment_id, ctx.spec.study_id)
    return Progress(m.finished, m.pruned, len(m.failed), m.running, budget, m.finished * ctx.spec.cv_folds)


def publish_progress(ctx: ShardContext, progress: Progress) -> None:
    """One batch of metrics on the study run; the step is the number of settled trials, so MLflow's
    latest value is the most complete view even when workers report out of order."""
    now = int(time.time() * 1000)
    step = progress.finished + progress.pruned + progress.failed
    values = (progress.finished, progress.pruned, progress.failed, progress.running, progress.budget, progress.fold_fits)
    metrics = [Metric(name, float(value), now, step) for name, value in zip(PROGRESS_METRICS, values)]
    ctx.tracking.call("log progress", ctx.tracking.client.log_batch, ctx.study_run_id, metrics=metrics)


def _tell(study: optuna.Study, trial: optuna.Trial, result: TrialResult, label: str) -> None:
    try:
        if result.outcome in ("trained", "skipped") and result.cv_mean is not None:
            study.tell(trial, result.cv_mean)
        elif result.outcome == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            if result.error:
                trial.set_user_attr(ATTR_ERROR, result.error)
            study.tell(trial, state=TrialState.FAIL)
    except UpdateFinishedTrialError:
        # Our heartbeat was late and another worker took the trial over; MLflow holds one run per key either way.
        print(
            f"{label}: the study had already given this trial to another worker (missed heartbeat); result kept in MLflow only", flush=True
        )


def _has_work(study: optuna.Study, ctx: ShardContext) -> str:
    """ "ask" (a waiting trial, or budget left to sample), "wait" (others still run trials) or "done"."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return "ask"
    search = ctx.spec.search
    if search is not None and search.kind == "tpe" and budget_used(trials) < search.budget:
        return "ask"
    return "wait" if any(t.state == TrialState.RUNNING for t in trials) else "done"


def _budget(ctx: ShardContext, shared: bool) -> int:
    search = ctx.spec.search
    if search is not None and search.kind == "tpe":
        return search.budget
    return ctx.spec.total_trials if shared else len(ctx.spec.trials)


class Recorder:
    """One background thread with at most one task in flight; a task's error is raised by the next
    `wait` (or `submit`), on the worker's main thread, so TrackingUnavailable still ends the worker."""

    def __init__(self, tracking_waited: Callable[[float], None]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-trial")
        self._pending: Future[None] | None = None
        self._waited = tracking_waited

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            started = time.monotonic()
            try:
                pending.result()
            finally:
                self._waited(time.monotonic() - started)

    def submit(self, task: Callable[[], None]) -> None:
        self.wait()
        self._pending = self._pool.submit(task)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def report_fold(trial: optuna.Trial, wilcoxon: bool, fold: int, running_mean: float, fold_score: float) -> None:
    """What the pruner judges after fold `fold` (1-based): WilcoxonPruner pairs fold scores across
    trials (step = the fold's index), the median and percentile pruners compare running means (step = folds done)."""
    if wilcoxon:
        trial.report(fold_score, fold - 1)
    else:
        trial.report(running_mean, fold)


def pull_trials(ctx: ShardContext, study: optuna.Study, shared: bool, beats: Heartbeats) -> Counter[Outcome]:
    outcomes: Counter[Outcome] = Counter()
    log = ctx.tracking.log
    recorder = Recorder(ctx.tracking.waited)
    # TPE samples from, and a pruner judges against, every told result: with one worker, waiting for
    # the last one before the next keeps the study reproducible.
    sequential = (ctx.spec.search is not None and ctx.spec.search.kind == "tpe") or ctx.spec.pruning.kind != "none"
    wilcoxon = ctx.spec.pruning.kind == "wilcoxon"

    def settle(trial: optuna.Trial, outcome: Callable[[], TrialResult], label: str, heartbeat: ExitStack) -> None:
        """Records and tells one trial; its heartbeat stops once it is told, or when recording fails."""
        with heartbeat:
            result = outcome()
            _tell(study, trial, result, label)
        outcomes[result.outcome] += 1
        publish_progress(ctx, read_progress(ctx, study, shared))

    try:
        while True:
            reap_stale(study, beats, log)
            state = _has_work(study, ctx)
            if recorder.busy and (state != "ask" or sequential):
                # The trial being recorded may be what is left, or what TPE must learn from first.
                recorder.wait()
                state = _has_work(study, ctx)
            if state == "done":
                return outcomes
            if state == "wait":
                time.sleep(beats.poll_seconds)
                continue
            trial = study.ask()
            if is_surplus(study._storage.get_trial(trial._trial_id), study.get_trials(deepcopy=False), ctx.spec):
                study._storage.set_trial_system_attr(trial._trial_id, SYS_SURPLUS, True)
                study.tell(trial, state=TrialState.FAIL)
                continue
            heartbeat = ExitStack()
            heartbeat.enter_context(Heartbeat(study._storage, trial._trial_id, beats.interval_seconds))
            with ExitStack() as on_error:
                on_error.push(heartbeat)
                spec_trial = trial_spec(trial, ctx.spec)
                label = f"trial {trial.number + 1}/{_budget(ctx, shared)}"

                def after_fold(fold: int, running_mean: float, fold_score: float, trial: optuna.Trial = trial) -> bool:
                    report_fold(trial, wilcoxon, fold, running_mean, fold_score)
                    return trial.should_prune()

                fitted = fit_trial(ctx, spec_trial, label, after_fold)
                recorder.wait()  # the one before must be recorded first; its error stops this one's heartbeat too
                on_error.pop_all()  # from here `settle` owns the heartbeat
            if isinstance(fitted, FittedTrial):
                recorder.submit(lambda t=trial, f=fitted, h=heartbeat, lbl=label: settle(t, lambda: record_trial(ctx, f), lbl, h))
            else:
                settle(trial, lambda r=fitted: r, label, heartbeat)
    finally:
        recorder.close()
