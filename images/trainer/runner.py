"""Runs one trial as an MLflow run nested under the study run, in two steps: `fit_trial` (find or
start the run, fit the folds) and `record_trial` (the model, the metrics, FINISHED), which the worker
runs on a background thread while the next trial fits.

Exactly one FINISHED run per trial key is the invariant: a finished key is skipped, and a RUNNING or
FAILED run left by an interrupted or failed attempt is resumed by its run id instead of starting a
second one (extra unfinished duplicates are deleted). A pruned trial is a KILLED run tagged
`mlops.pruned=true` with the folds it finished and their mean under its own metric name
(`cv_<scoring>_partial_mean`), so nothing reads it as a full CV mean; it is never selected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import mlflow
import mlflow.sklearn

# MLflow tags (TAG_PRUNED: "true" on a trial stopped early by the pruner, "false" on every other trial run: select
# keeps only "false") and metric names: the contract's (config/trainerContract.json).
from contract import (
    METRIC_CV_FOLD,
    METRIC_CV_FOLDS_COMPLETED,
    METRIC_CV_MEAN,
    METRIC_CV_PARTIAL_MEAN,
    METRIC_CV_STD,
    METRIC_FIT_TIME_SECONDS,
    METRIC_TEST,
    METRIC_TEST_ACCURACY,
    METRIC_TEST_R2,
    METRIC_TEST_RMSE,
    TAG_ERROR,
    TAG_MODEL_SOURCE,
    TAG_PRUNED,
    TAG_PRUNED_AT_FOLD,
    TAG_ROLE,
    TAG_STUDY_ID,
    TAG_TRIAL_INDEX,
    TAG_TRIAL_KEY,
    TAG_WORKER_INDEX,
)
from dataset import DataSplit
from evaluation import AfterFold, Stopped, TrialScores, evaluate
from features import imputes_missing, with_features
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.types import Schema
from modelrequirements import code_path_entries, model_requirements
from modelspec import ModelSource, check_built
from sklearn.base import BaseEstimator
from spec import ShardSpec, TrialSpec
from study import TAG_PARENT_RUN
from tracking import Tracking, TrackingUnavailable, one_line, search_all_runs, tag_filter

Outcome = Literal["trained", "skipped", "failed", "pruned"]


@dataclass(frozen=True)
class TrialResult:
    outcome: Outcome
    #: The full CV mean of a trained or already finished trial (what the study optimises).
    cv_mean: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ShardContext:
    tracking: Tracking
    spec: ShardSpec
    experiment_id: str
    study_run_id: str
    split: DataSplit
    #: What the spec's estimator or factory resolved to (modelspec.py), and the study's task.
    model: ModelSource
    task: str

    def build(self, trial: TrialSpec) -> BaseEstimator:
        """The trial's estimator behind the declared preprocessing (features.py): what is fitted and logged."""
        estimator = self.model.build(trial.params, self.spec.seed)
        check_built(estimator, self.task, self.model.identity)
        return with_features(estimator, self.spec.dataset.features)

    @cached_property
    def input_schema(self) -> Schema:
        """The models' input schema, inferred once per worker: it scans every training value for
        missing ones (the `required` flags), which cost a tenth of a second per trial."""
        inputs = infer_signature(self.split.x_train).inputs
        assert inputs is not None
        return inputs


def metric_names(scoring: str, folds: int, task: str = "classification") -> list[str]:
    """Every metric a finished trial carries (the contract's names: config/trainerContract.json)."""
    plain = [METRIC_TEST_ACCURACY] if task == "classification" else [METRIC_TEST_R2, METRIC_TEST_RMSE]
    names = [METRIC_CV_MEAN, METRIC_CV_STD, METRIC_FIT_TIME_SECONDS, METRIC_TEST, *plain]
    return [*(METRIC_CV_FOLD.format(scoring=scoring, fold=k) for k in range(folds)), *(name.format(scoring=scoring) for name in names)]


def partial_metric_names(scoring: str) -> dict[str, str]:
    """A pruned trial's metrics besides its fold scores (the contract's names: config/trainerContract.json)."""
    return {"mean": METRIC_CV_PARTIAL_MEAN.format(scoring=scoring), "folds": METRIC_CV_FOLDS_COMPLETED}


def _metrics(scoring: str, scores: TrialScores) -> dict[str, float]:
    folds = {METRIC_CV_FOLD.format(scoring=scoring, fold=k): v for k, v in enumerate(scores.fold_scores)}
    study = {METRIC_CV_MEAN: scores.cv_mean, METRIC_CV_STD: scores.cv_std, METRIC_FIT_TIME_SECONDS: scores.fit_time_seconds}
    return {
        **folds,
        **{k.format(scoring=scoring): v for k, v in study.items()},
        METRIC_TEST.format(scoring=scoring): scores.test_score,
        **scores.test_extra,
    }


def _params(spec: ShardSpec, trial: TrialSpec) -> list[Param]:
    values = {
        **{k: str(v) for k, v in trial.params.items()},
        # The name select filters on (params.model_family): the estimator's alias or path, or the factory.
        "model_family": spec.estimator or str(spec.factory),
        "cv_folds": str(spec.cv_folds),
        "scoring": spec.scoring,
        "seed": str(spec.seed),
    }
    return [Param(k, v) for k, v in values.items()]


def _trial_tags(ctx: ShardContext, trial: TrialSpec) -> dict[str, str]:
    return {
        TAG_STUDY_ID: ctx.spec.study_id,
        TAG_TRIAL_KEY: trial.key,
        TAG_TRIAL_INDEX: str(trial.index),
        TAG_WORKER_INDEX: str(ctx.spec.worker_index),
        TAG_ROLE: "trial",
        TAG_PARENT_RUN: ctx.study_run_id,
        TAG_PRUNED: "false",
    }


def _start_or_resume(ctx: ShardContext, trial: TrialSpec, unfinished: list[Run]) -> tuple[str, bool]:
    """Returns (run id, resumed): the newest unfinished run is reused, older duplicates deleted."""
    t, client = ctx.tracking, ctx.tracking.client
    tags = _trial_tags(ctx, trial)
    if not unfinished:
        run = t.call("create trial run", client.create_run, ctx.experiment_id, run_name=f"trial-{trial.index}-{trial.key[:8]}", tags=tags)
        return run.info.run_id, False
    *stale, keep = unfinished
    for run in stale:
        t.call("delete duplicate run", client.delete_run, run.info.run_id)
    run_id = keep.info.run_id
    t.call("resume trial run", client.update_run, run_id, status="RUNNING")
    if TAG_ERROR in keep.data.tags:
        t.call("clear error tag", client.delete_tag, run_id, TAG_ERROR)
    t.call("tag trial run", client.log_batch, run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return run_id, True


def _log_model(ctx: ShardContext, run_id: str, model: BaseEstimator) -> str:
    """Logs the model and returns the `source` that model-versions/create needs for this run."""
    sample = ctx.split.x_train.head(20)
    signature = ModelSignature(inputs=ctx.input_schema, outputs=infer_signature(sample, model.predict(sample)).outputs)
    info = ctx.tracking.call(
        "log model",
        Model.log,
        artifact_path=None,
        name="model",
        flavor=mlflow.sklearn,
        run_id=run_id,
        sk_model=model,
        signature=signature,
        input_example=sample.head(5),
        pip_requirements=model_requirements(model, ctx.spec.requirements),
        code_paths=code_path_entries(ctx.spec.code_path),
        # The features Pipeline fills missing values itself, which scikit-learn's tags cannot tell the
        # model server (images/serving/README.md: mlops_allow_missing).
        metadata={"mlops_allow_missing": imputes_missing(ctx.spec.dataset.features)},
    )
    # MLflow 3 stores the model as a LoggedModel outside the run's artifacts; its artifact location
    # (mlflow-artifacts:/<exp>/models/m-<id>/artifacts) registers with a plain {name, source, run_id}
    # and `models:/<name>@<alias>` then loads (checked against a real server in the tests).
    logged = ctx.tracking.call("get logged model", ctx.tracking.client.get_logged_model, info.model_id)
    return logged.artifact_location


def _log_pruned(ctx: ShardContext, run_id: str, stopped: Stopped) -> None:
    spec, t = ctx.spec, ctx.tracking
    names = partial_metric_names(spec.scoring)
    now = int(time.time() * 1000)
    done = len(stopped.fold_scores)
    folds = {METRIC_CV_FOLD.format(scoring=spec.scoring, fold=k): v for k, v in enumerate(stopped.fold_scores)}
    values = {
        **folds,
        names["mean"]: sum(stopped.fold_scores) / done,
        names["folds"]: float(done),
        METRIC_FIT_TIME_SECONDS: stopped.fit_time_seconds,
    }
    tags = [RunTag(TAG_PRUNED, "true"), RunTag(TAG_PRUNED_AT_FOLD, str(done))]
    t.call("log pruned trial", t.client.log_batch, run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()], tags=tags)
    t.call("end pruned trial run", t.client.set_terminated, run_id, "KILLED")


def _delete_unfinished_duplicates(ctx: ShardContext, trial: TrialSpec, keep: str) -> None:
    """A create whose answer was lost (server restarted mid-request) and then retried leaves a
    second RUNNING run for the key; once the trial is FINISHED such leftovers only mislead."""
    runs = search_all_runs(ctx.tracking, ctx.experiment_id, tag_filter({TAG_STUDY_ID: ctx.spec.study_id, TAG_TRIAL_KEY: trial.key}))
    for run in runs:
        if run.info.run_id != keep and run.info.status != "FINISHED":
            ctx.tracking.call("delete duplicate run", ctx.tracking.client.delete_run, run.info.run_id)


@dataclass(frozen=True)
class FittedTrial:
    """A trial whose folds are done; what is left is recording it in MLflow (`record_trial`), which the
    worker does on a background thread while the next trial fits."""

    trial: TrialSpec
    label: str
    run_id: str
    started: float
    scores: TrialScores
    model: BaseEstimator


def _trial_failed(ctx: ShardContext, run_id: str, label: str, started: float, err: Exception) -> TrialResult:
    t = ctx.tracking
    message = f"{type(err).__name__}: {one_line(err)}"
    t.call("tag trial error", t.client.set_tag, run_id, TAG_ERROR, message)
    t.call("fail trial run", t.client.set_terminated, run_id, "FAILED")
    t.log(f"{label}: FAILED after {time.monotonic() - started:.1f}s: {message}")
    return TrialResult("failed", error=message)


def fit_trial(ctx: ShardContext, trial: TrialSpec, label: str, after_fold: AfterFold | None = None) -> TrialResult | FittedTrial:
    """Finds or starts the trial's run and fits its folds. Returns the result when nothing is left to
    record (skipped, pruned, failed), else the fitted trial for `record_trial`. `label` prefixes the
    progress lines; `after_fold` (the pruner) may stop the trial between folds."""
    t, spec = ctx.tracking, ctx.spec
    label = f"[worker {spec.worker_index}] {label} #{trial.index} key={trial.key}"
    runs = search_all_runs(t, ctx.experiment_id, tag_filter({TAG_STUDY_ID: spec.study_id, TAG_TRIAL_KEY: trial.key}))
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if finished:
        t.log(f"{label}: already finished in run {finished[0].info.run_id}, skipped")
        return TrialResult("skipped", finished[0].data.metrics.get(METRIC_CV_MEAN.format(scoring=spec.scoring)))
    pruned = [r for r in runs if r.data.tags.get(TAG_PRUNED) == "true"]
    if pruned:
        t.log(f"{label}: already pruned in run {pruned[0].info.run_id}, skipped")
        return TrialResult("pruned")
    started = time.monotonic()
    run_id, resumed = _start_or_resume(ctx, trial, runs)
    t.log(f"{label}: {'resuming' if resumed else 'started'} run {run_id} params={dict(trial.params)}")
    try:
        t.call("log params", t.client.log_batch, run_id, params=_params(spec, trial))
        scores, model = evaluate(ctx.build(trial), ctx.split, spec.scoring, spec.cv_folds, spec.seed, after_fold, ctx.task)
    except TrackingUnavailable:
        raise  # the worker stops; its retry resumes this run
    except Stopped as stopped:
        _log_pruned(ctx, run_id, stopped)
        mean = sum(stopped.fold_scores) / len(stopped.fold_scores)
        t.log(
            f"{label}: PRUNED after fold {len(stopped.fold_scores)}/{spec.cv_folds} (running mean {mean:.4f}) in {time.monotonic() - started:.1f}s"
        )
        return TrialResult("pruned")
    except Exception as err:
        return _trial_failed(ctx, run_id, label, started, err)
    return FittedTrial(trial, label, run_id, started, scores, model)


def record_trial(ctx: ShardContext, fitted: FittedTrial) -> TrialResult:
    """Logs the fitted model, then the metrics and the model's source in one batch, then FINISHED: a
    run is FINISHED only with everything a select or a serve needs."""
    t, spec, run_id, scores = ctx.tracking, ctx.spec, fitted.run_id, fitted.scores
    try:
        source = _log_model(ctx, run_id, fitted.model)
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in _metrics(spec.scoring, scores).items()]
        t.call("log metrics", t.client.log_batch, run_id, metrics=metrics, tags=[RunTag(TAG_MODEL_SOURCE, source)])
        t.call("finish trial run", t.client.set_terminated, run_id, "FINISHED")
    except TrackingUnavailable:
        raise
    except Exception as err:
        return _trial_failed(ctx, run_id, fitted.label, fitted.started, err)
    _delete_unfinished_duplicates(ctx, fitted.trial, keep=run_id)
    t.log(
        f"{fitted.label}: cv_{spec.scoring}_mean={scores.cv_mean:.4f} (std {scores.cv_std:.4f}) test_{spec.scoring}={scores.test_score:.4f} in {time.monotonic() - fitted.started:.1f}s"
    )
    return TrialResult("trained", scores.cv_mean)
