"""training.maxFailedTrials and "no trial finished": the train phase fails, naming the failures."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Run, RunData, RunInfo, RunTag
from mlflow_testing import TRAINER_DIR, MlflowServer, client_env, run_cli
from verdict import FailedTrial, StudyCounts, count_trials, judge

TRAINER = TRAINER_DIR / "trainer.py"
GOOD = {"n_estimators": 5, "max_depth": 3}
BAD = {"n_estimators": -1, "max_depth": 3}  # RandomForestClassifier rejects it: the trial fails


def fake_run(status: str, index: int, **tags: str) -> Run:
    info = RunInfo(
        run_id=f"r{index}", experiment_id="1", user_id="u", status=status, start_time=index, end_time=None, lifecycle_stage="active"
    )
    all_tags = {"mlops.trial_index": str(index), "mlops.trial_key": f"k{index}", **tags}
    return Run(info, RunData(tags=[RunTag(k, v) for k, v in all_tags.items()]))


def test_counts_tell_finished_pruned_running_and_failed_apart() -> None:
    runs = [
        fake_run("FINISHED", 0, **{"mlops.pruned": "false"}),
        fake_run("KILLED", 1, **{"mlops.pruned": "true"}),
        fake_run("RUNNING", 2),
        fake_run("FAILED", 10, **{"mlops.error": "ValueError: ten"}),
        fake_run("FAILED", 3, **{"mlops.error": "ValueError: three"}),
    ]
    counts = count_trials(runs)
    assert (counts.finished, counts.pruned, counts.running) == (1, 1, 1)
    assert [f.index for f in counts.failed] == ["3", "10"]  # numeric order, not text order


@pytest.mark.parametrize(
    ("counts", "limit", "expected"),
    [
        (StudyCounts(3, 0, 0, ()), None, None),
        (StudyCounts(3, 0, 0, (FailedTrial("1", "k1", "E: x"),)), 1, None),
        (
            StudyCounts(3, 0, 0, (FailedTrial("1", "k1", "E: x"), FailedTrial("2", "k2", "E: y"))),
            1,
            "2 trials failed, more than training.maxFailedTrials = 1 allows: #1 k1: E: x; #2 k2: E: y",
        ),
        (
            StudyCounts(0, 2, 0, (FailedTrial("1", "k1", "E: x"),)),
            None,
            "no trial finished (1 failed, 2 pruned), so there is nothing to select: #1 k1: E: x",
        ),
        (StudyCounts(0, 0, 1, ()), None, None),  # another worker is still running a trial: it judges last
    ],
)
def test_judge(counts: StudyCounts, limit: int | None, expected: str | None) -> None:
    reason = judge("s1", counts, limit)
    assert reason == (None if expected is None else f"study s1: {expected}")


def test_judge_names_at_most_five_failures() -> None:
    failed = tuple(FailedTrial(str(i), f"k{i}", "E") for i in range(8))
    reason = judge("s", StudyCounts(1, 0, 0, failed), 0)
    assert reason is not None and "#4 k4" in reason and "#5 k5" not in reason and "and 3 more" in reason


def spec(study_id: str, trials: list[dict[str, Any]], max_failed: int | None) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": f"verdict-{study_id}",
        "estimator": "random_forest",
        "scoring": "accuracy",
        "cvFolds": 2,
        "testSize": 0.25,
        "seed": 1,
        "dataset": {
            "source": "generated",
            "target": "target",
            "generate": {"rows": 120, "features": 4, "informative": 2, "classes": 2, "seed": 3},
        },
        "totalTrials": len(trials),
        "workerIndex": 0,
        "workers": 1,
        "trials": [{"index": i, "key": f"key-{i}", "params": p} for i, p in enumerate(trials)],
        "maxFailedTrials": max_failed,
    }


def train(server: MlflowServer, folder: Path, study: dict[str, Any]) -> Any:
    path = folder / f"{study['studyId']}.json"
    path.write_text(json.dumps(study))
    env = client_env(server.url)
    prepared = run_cli(TRAINER, ["prepare", "--spec", str(path)], env)
    assert prepared.returncode == 0, prepared.stderr
    return run_cli(TRAINER, ["run", "--spec", str(path)], env)


def test_all_failing_study_fails_the_phase_naming_the_trials(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    study_id = f"t-{uuid.uuid4().hex[:8]}"
    result = train(mlflow_server, tmp_path, spec(study_id, [BAD, {**BAD, "max_depth": 2}], None))
    assert result.returncode == 4, result.stdout + result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"trainer: error: study {study_id}: no trial finished (2 failed, 0 pruned)")
    assert "#0 key-0: InvalidParameterError" in line and "#1 key-1:" in line and "n_estimators" in line
    assert "Traceback" not in result.stderr and "\n" not in line


def test_more_failures_than_allowed_fail_the_phase(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    trials = [GOOD, BAD, {**BAD, "max_depth": 2}]
    allowed = train(mlflow_server, tmp_path, spec(f"t-{uuid.uuid4().hex[:8]}", trials, 2))
    assert allowed.returncode == 0, allowed.stderr
    assert "1 finished, 0 pruned, 2 failed (at most 2 allowed)" in allowed.stdout
    study_id = f"t-{uuid.uuid4().hex[:8]}"
    refused = train(mlflow_server, tmp_path, spec(study_id, trials, 1))
    assert refused.returncode == 4
    assert f"study {study_id}: 2 trials failed, more than training.maxFailedTrials = 1 allows: #1 key-1: " in refused.stderr


def test_changed_data_the_plan_could_not_hash_is_refused_not_mixed_in(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The study id hashes a local file's content; data only the worker reads (s3://) is checked here."""
    from dataset import synthesize
    from spec import GenerateSpec

    data = tmp_path / "train.csv"
    synthesize(GenerateSpec(rows=120, features=4, informative=2, classes=2, weights=None, seed=3)).to_csv(data, index=False)
    study = spec(f"t-{uuid.uuid4().hex[:8]}", [GOOD], None)
    study["dataset"]["source"] = str(data)
    first = train(mlflow_server, tmp_path, study)
    assert first.returncode == 0, first.stderr
    again = train(mlflow_server, tmp_path, study)  # same bytes: the rerun is welcome
    assert again.returncode == 0 and "already finished" in again.stdout
    synthesize(GenerateSpec(rows=130, features=4, informative=2, classes=2, weights=None, seed=4)).to_csv(data, index=False)
    changed = train(mlflow_server, tmp_path, study)
    assert changed.returncode == 2
    assert (
        f"dataset {data} changed since study {study['studyId']} started (sha256 " in changed.stderr
        and "would mix two datasets" in changed.stderr
    )
