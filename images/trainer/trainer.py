"""Trainer CLI: `prepare` creates the study (MLflow parent run, Optuna study, fixed trials enqueued);
`run` is one worker pulling trials from it until the budget is spent (worker.py, trialqueue.py).

    python trainer.py check --spec study.json
    python trainer.py prepare --spec study.json
    python trainer.py run --spec shard-{index}.json [--worker-index K]

`check` is the preflight (check.py): no MLflow, no trial; it prints one JSON line, {"ok": true, ...}
or {"ok": false, "problems": [{"key", "message"}, ...]}, and exits 2 on problems.

The model is any scikit-learn-API estimator (`estimator`: an alias or an import path) or the user's
`factory` (modelspec.py), for classification or regression; the user's code folder (`codePath`) is
put first on the import path before either is resolved.

With `"queue": "journal"` (local platform) or env MLOPS_OPTUNA_STORAGE (an RDB URL) every worker
pulls from one shared study; with `"queue": "shard"` a worker runs its own shard's trials.

The tracking server comes from MLFLOW_TRACKING_URI (or --tracking-uri); basic auth from
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, which the MLflow client reads itself.

Exit codes: 0 done, 1 MLflow refused a request (e.g. wrong credentials), 2 bad spec, model or dataset,
3 tracking server unavailable after retries (the platform should retry the worker), 4 the study
failed: more trials failed than `maxFailedTrials` allows, or no trial finished (verdict.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from collections import Counter

from check import preflight
from dataset import DatasetError, load_frame_and_fingerprint, split_dataset
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from modelspec import ModelError, add_code_path, resolve_model, study_task
from runner import Outcome, ShardContext
from scorers import ScorersFileError
from spec import ShardSpec, SpecError, load_shard_spec, resolve_spec_path
from study import check_dataset, find_or_create_study_run, find_study_run, study_run_name
from summary import PLOT_HISTORY, PLOT_PARAMS, publish_summary
from tracking import RetryPolicy, Tracking, TrackingUnavailable, find_or_create_experiment, one_line, tracking_uri_for_display
from trialqueue import Heartbeats, QueueError, enqueue_fixed, open_storage, open_study, restart_study
from verdict import StudyCounts, judge, study_counts
from worker import pull_trials

EXIT_BAD_INPUT = 2
EXIT_TRACKING_UNAVAILABLE = 3
EXIT_STUDY_FAILED = 4


class StudyFailed(Exception):
    """The study's trials say the train phase failed (verdict.py); exits 4 with the reason."""


class UsageError(Exception):
    """A mistake in how the trainer was called; exits 2 with the message."""


def say(message: str) -> None:
    print(message, flush=True)


def _connect(args: argparse.Namespace) -> Tracking:
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise UsageError("no tracking server: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000) or pass --tracking-uri")
    try:
        policy = RetryPolicy.from_env()
    except ValueError as err:
        raise UsageError(str(err)) from None
    say(f"tracking server {tracking_uri_for_display(uri)} (retrying unavailable calls for up to {policy.budget_seconds:.0f}s)")
    import mlflow

    mlflow.set_tracking_uri(uri)  # Model.log resolves the server through the fluent API
    return Tracking(MlflowClient(uri), policy, say)


def _load_spec(args: argparse.Namespace) -> tuple[ShardSpec, str]:
    path, _ = resolve_spec_path(args.spec, args.worker_index)
    return load_shard_spec(path), path


def _own_share(spec: ShardSpec) -> ShardSpec:
    """Without a shared study a tpe worker samples its share of the budget with its own seed."""
    search = spec.search
    if search is None or search.kind != "tpe":
        return spec
    share = search.budget // spec.workers + (1 if spec.worker_index < search.budget % spec.workers else 0)
    return dataclasses.replace(spec, search=dataclasses.replace(search, budget=share, seed=search.seed + spec.worker_index))


def cmd_check(args: argparse.Namespace) -> int:
    path, _ = resolve_spec_path(args.spec, args.worker_index)
    result = preflight(path, check_data=not args.skip_data)
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else EXIT_BAD_INPUT


def cmd_prepare(args: argparse.Namespace) -> int:
    spec, path = _load_spec(args)
    tracking = _connect(args)
    experiment_id = find_or_create_experiment(tracking, spec.experiment_name)
    run_id, created = find_or_create_study_run(tracking, experiment_id, spec)
    say(
        f"study {spec.study_id}: {'created' if created else 'reusing'} run {run_id} ({study_run_name(spec.study_id)}) in experiment {spec.experiment_name!r} ({experiment_id}), {spec.total_trials} trials"
    )
    storage, shared = open_storage(spec, path)
    if shared:
        study = open_study(storage, spec)
        if created and study.trials:
            # MLflow is the record of results: a queue that has trials for a study MLflow never saw
            # (its store was removed or replaced) would hand out nothing and leave select empty.
            say(
                f"study {spec.study_id}: MLflow has no record of it, but the trial queue holds {len(study.trials)} trials: starting the queue afresh"
            )
            study = restart_study(storage, spec)
        added = enqueue_fixed(study, spec.trials) if spec.search is not None and spec.search.kind != "tpe" else 0
        say(
            f"study {spec.study_id}: shared trial queue ready ({spec.search.kind if spec.search else 'grid'}, {added} trials enqueued, {len(study.trials)} in the study, pruning {spec.pruning.kind})"
        )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    spec, path = _load_spec(args)
    try:
        beats = Heartbeats.from_env()
    except ValueError as err:
        raise UsageError(str(err)) from None
    storage, shared = open_storage(spec, path)
    if not shared:
        spec = _own_share(spec)
    kind = spec.search.kind if spec.search else "grid"
    queue = "the shared study" if shared else f"its own shard ({len(spec.trials)} trials)"
    add_code_path(spec.code_path)
    model = resolve_model(spec.estimator, spec.factory)
    task = study_task(model, spec.task, spec.scoring)
    say(
        f"[worker {spec.worker_index}/{spec.workers}] study {spec.study_id}: pulling from {queue}; {kind} search, {spec.total_trials} trials in the study, {model.identity} ({task}), {spec.cv_folds}-fold CV on {spec.scoring}, pruning {spec.pruning.kind}"
    )
    frame, fingerprint = load_frame_and_fingerprint(spec.dataset)
    split = split_dataset(frame, spec.dataset, spec.test_size, spec.seed, task, spec.cv_folds)
    say(
        f"dataset {spec.dataset.source}: {len(frame)} rows, {split.x_train.shape[1]} features; train {len(split.x_train)} / test {len(split.x_test)}"
    )
    tracking = _connect(args)
    experiment_id = find_or_create_experiment(tracking, spec.experiment_name)
    study_run = find_study_run(tracking, experiment_id, spec.study_id)
    if study_run is None:
        raise UsageError(
            f"study {spec.study_id} has no parent run in experiment {spec.experiment_name!r}: run `trainer.py prepare --spec ...` first"
        )
    changed = check_dataset(tracking, study_run, spec.dataset.source, fingerprint) if fingerprint is not None else None
    if changed is not None:
        raise DatasetError(changed)
    import mlflow

    # LoggedModels land in the fluent API's active experiment, not the run's: point it at ours.
    tracking.call("set experiment", mlflow.set_experiment, experiment_id=experiment_id)
    ctx = ShardContext(tracking, spec, experiment_id, study_run.info.run_id, split, model, task)
    study = open_study(storage, spec)
    if not shared and kind != "tpe":
        enqueue_fixed(study, spec.trials)
    pulling = time.monotonic()
    tracking.reset_clock()
    outcomes: Counter[Outcome] = pull_trials(ctx, study, shared, beats)
    pulled = max(time.monotonic() - pulling, 1e-9)
    say(
        f"[worker {spec.worker_index}] done in {time.monotonic() - started:.1f}s: "
        f"trained {outcomes['trained']}, skipped {outcomes['skipped']}, pruned {outcomes['pruned']}, failed {outcomes['failed']}; "
        f"mlflow_seconds={tracking.seconds:.2f} ({tracking.seconds / pulled:.1%} of the time since the first trial was asked for; {tracking.slowest_calls()}); "
        f"waited on MLflow {tracking.waited_seconds:.2f}s ({tracking.waited_seconds / pulled:.1%}; the rest overlapped the next trial's fits)"
    )
    counts = study_counts(tracking, experiment_id, spec.study_id)
    if shared and counts.running == 0:  # the study settled: this worker is the last one
        best = publish_summary(ctx, study)
        if best is not None:
            say(f"study {spec.study_id}: best trial {best}; summary and plots ({PLOT_HISTORY}, {PLOT_PARAMS}) on run {ctx.study_run_id}")
    _judge(spec, counts)
    return 0


def _judge(spec: ShardSpec, counts: StudyCounts) -> None:
    reason = judge(spec.study_id, counts, spec.max_failed_trials)
    if reason is not None:
        raise StudyFailed(reason)
    limit = "no limit" if spec.max_failed_trials is None else f"at most {spec.max_failed_trials} allowed"
    still = f", {counts.running} still running on other workers" if counts.running else ""
    say(f"study {spec.study_id}: {counts.finished} finished, {counts.pruned} pruned, {len(counts.failed)} failed ({limit}){still}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trainer.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("check", cmd_check, "preflight without MLflow: model, task, scorer, parameters and dataset; one JSON line"),
        ("prepare", cmd_prepare, "create the experiment and the study's parent run (idempotent)"),
        ("run", cmd_run, "train this worker's trials (skips finished ones)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--spec", required=True, help="shard spec JSON; {index} is replaced by the worker index")
        cmd.add_argument("--worker-index", type=int, default=None, help="replaces {index} (default: env JOB_COMPLETION_INDEX)")
        cmd.add_argument("--tracking-uri", default=None, help="default: env MLFLOW_TRACKING_URI")
        if name == "check":
            cmd.add_argument(
                "--skip-data", action="store_true", help="leave the data to the workers (s3://, a path inside their containers)"
            )
        cmd.set_defaults(handler=handler)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except (SpecError, DatasetError, ModelError, ScorersFileError, UsageError, QueueError) as err:
        print(f"trainer: error: {err}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except StudyFailed as err:
        print(f"trainer: error: {err}", file=sys.stderr, flush=True)
        return EXIT_STUDY_FAILED
    except TrackingUnavailable as err:
        print(f"trainer: error: {err}", file=sys.stderr, flush=True)
        return EXIT_TRACKING_UNAVAILABLE
    except MlflowException as err:  # e.g. 401/403: wrong credentials or permissions
        print(f"trainer: error: MLflow refused the request: {one_line(err)}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
