"""Whether a study's train phase succeeded, judged from MLflow (the record of results).

Every worker judges the study when it runs out of trials. Failures only grow, so a worker that sees
more than `training.maxFailedTrials` failed trials fails the phase at once. "No trial finished" is
only decided once no trial is still running: the last worker to stop sees every other worker's
results, so the phase cannot succeed with nothing for select to choose from.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import TAG_ERROR, TAG_PRUNED, TAG_ROLE, TAG_STUDY_ID, TAG_TRIAL_INDEX, TAG_TRIAL_KEY
from mlflow.entities import Run
from tracking import Tracking, search_all_runs, tag_filter

#: Failed trials named in the error, so the message stays readable for a study of thousands.
NAMED_FAILURES = 5


@dataclass(frozen=True)
class FailedTrial:
    index: str
    key: str
    error: str


@dataclass(frozen=True)
class StudyCounts:
    finished: int
    pruned: int
    running: int
    failed: tuple[FailedTrial, ...]


def count_trials(runs: list[Run]) -> StudyCounts:
    finished = pruned = running = 0
    failed: list[FailedTrial] = []
    for run in runs:
        tags = run.data.tags
        if tags.get(TAG_PRUNED) == "true":
            pruned += 1
        elif run.info.status == "FINISHED":
            finished += 1
        elif run.info.status == "FAILED":
            error = tags.get(TAG_ERROR, "no error recorded (the worker stopped before tagging it)")
            failed.append(FailedTrial(tags.get(TAG_TRIAL_INDEX, "?"), tags.get(TAG_TRIAL_KEY, "?"), error))
        elif run.info.status in ("RUNNING", "SCHEDULED"):
            running += 1
    return StudyCounts(finished, pruned, running, tuple(sorted(failed, key=lambda f: (len(f.index), f.index))))


def study_counts(tracking: Tracking, experiment_id: str, study_id: str) -> StudyCounts:
    return count_trials(search_all_runs(tracking, experiment_id, tag_filter({TAG_STUDY_ID: study_id, TAG_ROLE: "trial"})))


def _named(failed: tuple[FailedTrial, ...]) -> str:
    named = "; ".join(f"#{f.index} {f.key}: {f.error}" for f in failed[:NAMED_FAILURES])
    more = len(failed) - NAMED_FAILURES
    return named + (f"; and {more} more (tag mlops.error on each FAILED run in MLflow)" if more > 0 else "")


def judge(study_id: str, counts: StudyCounts, max_failed: int | None) -> str | None:
    """None when the study may go on to select; else the one-line reason the train phase fails."""
    failed = counts.failed
    if max_failed is not None and len(failed) > max_failed:
        return f"study {study_id}: {len(failed)} trials failed, more than training.maxFailedTrials = {max_failed} allows: {_named(failed)}"
    if counts.finished == 0 and counts.running == 0:
        detail = f"{len(failed)} failed, {counts.pruned} pruned"
        return f"study {study_id}: no trial finished ({detail}), so there is nothing to select" + (f": {_named(failed)}" if failed else "")
    return None
