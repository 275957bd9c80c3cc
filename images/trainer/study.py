"""The study's parent run: one per study id, found by tag so a rerun reuses it."""

from __future__ import annotations

from mlflow.entities import Param, Run

from spec import ShardSpec
from tracking import Tracking, search_all_runs, tag_filter

TAG_STUDY_ID = "mlops.study_id"
TAG_TRIAL_KEY = "mlops.trial_key"
TAG_TRIAL_INDEX = "mlops.trial_index"
TAG_WORKER_INDEX = "mlops.worker_index"
TAG_ROLE = "mlops.role"
TAG_ERROR = "mlops.error"
TAG_MODEL_SOURCE = "mlops.model_source"
#: "true" on a trial stopped early by the pruner, "false" on every other trial run (select keeps only "false").
TAG_PRUNED = "mlops.pruned"
TAG_PRUNED_AT_FOLD = "mlops.pruned_at_fold"
TAG_PARENT_RUN = "mlflow.parentRunId"


def study_run_name(study_id: str) -> str:
    return f"study-{study_id}"


def find_study_run(tracking: Tracking, experiment_id: str, study_id: str) -> Run | None:
    """The oldest study run wins if a race ever made two, so every worker nests under the same one."""
    runs = search_all_runs(tracking, experiment_id, tag_filter({TAG_STUDY_ID: study_id, TAG_ROLE: "study"}))
    return runs[0] if runs else None


def find_or_create_study_run(tracking: Tracking, experiment_id: str, spec: ShardSpec) -> tuple[str, bool]:
    """Returns (run id, created). The run is FINISHED at once: it only groups the trials."""
    existing = find_study_run(tracking, experiment_id, spec.study_id)
    if existing is not None:
        return existing.info.run_id, False
    run = tracking.call(
        "create study run",
        tracking.client.create_run,
        experiment_id,
        run_name=study_run_name(spec.study_id),
        tags={TAG_STUDY_ID: spec.study_id, TAG_ROLE: "study"},
    )
    run_id = run.info.run_id
    params = {
        "model_family": spec.model_family,
        "scoring": spec.scoring,
        "cv_folds": str(spec.cv_folds),
        "test_size": str(spec.test_size),
        "seed": str(spec.seed),
        "total_trials": str(spec.total_trials),
        "dataset_source": spec.dataset.source,
    }
    tracking.call("log study params", tracking.client.log_batch, run_id, params=[Param(k, v) for k, v in params.items()])
    tracking.call("finish study run", tracking.client.set_terminated, run_id, "FINISHED")
    return run_id, True
