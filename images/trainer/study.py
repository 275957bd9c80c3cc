"""The study's parent run: one per study id, found by tag so a rerun reuses it."""

from __future__ import annotations

from contract import TAG_DATASET_BYTES, TAG_DATASET_ETAG, TAG_DATASET_SHA256, TAG_ROLE, TAG_STUDY_ID
from dataset import Fingerprint
from mlflow.entities import Param, Run, RunTag
from spec import ShardSpec
from tracking import Tracking, search_all_runs, tag_filter

#: MLflow's own tag, not ours.
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
        "model_family": spec.estimator or str(spec.factory),
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


def check_dataset(tracking: Tracking, study_run: Run, source: str, seen: Fingerprint) -> str | None:
    """The study id covers a local file's content, but not data the plan could not read (s3://):
    the first worker records what it read on the study run, and a worker that reads other bytes
    refuses to mix them into the study. Returns that refusal, or None."""
    tags = study_run.data.tags
    recorded = tags.get(TAG_DATASET_SHA256)
    if recorded is None:
        fields = {
            TAG_DATASET_SHA256: seen.sha256,
            TAG_DATASET_BYTES: str(seen.size),
            **({TAG_DATASET_ETAG: seen.etag} if seen.etag else {}),
        }
        tracking.call("record dataset", tracking.client.log_batch, study_run.info.run_id, tags=[RunTag(k, v) for k, v in fields.items()])
        return None
    if recorded == seen.sha256:
        return None
    before = Fingerprint(recorded, int(tags.get(TAG_DATASET_BYTES, "0")), tags.get(TAG_DATASET_ETAG))
    return (
        f"dataset {source} changed since study {tags.get(TAG_STUDY_ID, '?')} started ({before.describe()} -> {seen.describe()}): "
        "its trials would mix two datasets. Put new data under a new key or path (the study id covers the path), "
        "or delete the old study's runs in MLflow (README: Studies)"
    )
