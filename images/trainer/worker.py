"""One worker's pull loop: ask the study for a trial, run it, tell the result, publish progress."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import optuna
from mlflow.entities import Metric
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from runner import Outcome, ShardContext, TrialResult, run_trial
from trialqueue import ATTR_ERROR, SYS_SURPLUS, Heartbeat, Heartbeats, budget_used, is_surplus, queue_counts, reap_stale, trial_spec
from verdict import study_counts

#: Metrics on the study run that say how far the train phase is (see progress.ts for the reader).
PROGRESS_METRICS = ("progress_finished", "progress_pruned", "progress_failed", "progress_running", "progress_budget", "progress_fold_fits")


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
        print(f"{label}: the study had already given this trial to another worker (missed heartbeat); result kept in MLflow only", flush=True)


def _has_work(study: optuna.Study, ctx: ShardContext) -> str:
    """"ask" (a waiting trial, or budget left to sample), "wait" (others still run trials) or "done"."""
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


def pull_trials(ctx: ShardContext, study: optuna.Study, shared: bool, beats: Heartbeats) -> Counter[Outcome]:
    outcomes: Counter[Outcome] = Counter()
    log = ctx.tracking.log
    while True:
        reap_stale(study, beats, log)
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
        with Heartbeat(study._storage, trial._trial_id, beats.interval_seconds):
            spec_trial = trial_spec(trial, ctx.spec)
            label = f"trial {trial.number + 1}/{_budget(ctx, shared)}"

            def after_fold(fold: int, running_mean: float, trial: optuna.Trial = trial) -> bool:
                trial.report(running_mean, fold)
                return trial.should_prune()

            result = run_trial(ctx, spec_trial, label, after_fold)
            _tell(study, trial, result, label)
        outcomes[result.outcome] += 1
        publish_progress(ctx, read_progress(ctx, study, shared))
