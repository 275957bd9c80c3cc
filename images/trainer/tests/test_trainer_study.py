"""The trainer CLI against a real `mlflow server`: prepare, two workers, rerun, resume, register."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
import requests
from dataset import synthesize
from mlflow.entities import Run, ViewType
from mlflow.tracking import MlflowClient
from mlflow_testing import TRAINER_DIR, MlflowServer, client_env, run_cli
from spec import GenerateSpec
from tracking import tag_filter

TRAINER = TRAINER_DIR / "trainer.py"
SCORING = "f1_macro"
FOLDS = 3
GENERATE = {"rows": 240, "features": 6, "informative": 3, "classes": 2, "seed": 7}
# Trial i belongs to worker i % 2; #2 has an invalid n_estimators and must end FAILED.
TRIALS: list[dict[str, Any]] = [
    {"index": 0, "key": "key-a", "params": {"n_estimators": 8, "max_depth": 3}},
    {"index": 1, "key": "key-b", "params": {"n_estimators": 8, "max_depth": None}},
    {"index": 2, "key": "key-bad", "params": {"n_estimators": -1, "max_depth": 3}},
    {"index": 3, "key": "key-d", "params": {"n_estimators": 12, "max_depth": 5}},
]
EXPECTED_METRICS = {
    *(f"cv_{SCORING}_fold_{k}" for k in range(FOLDS)),
    f"cv_{SCORING}_mean",
    f"cv_{SCORING}_std",
    "fit_time_seconds",
    f"test_{SCORING}",
    "test_accuracy",
}


def study_spec(study_id: str, experiment: str) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": experiment,
        "estimator": "random_forest",
        "scoring": SCORING,
        "cvFolds": FOLDS,
        "testSize": 0.25,
        "seed": 42,
        "dataset": {"source": "generated", "target": "target", "generate": GENERATE},
        "totalTrials": len(TRIALS),
    }


def write_shard(folder: Path, study: dict[str, Any], worker: int, workers: int, trials: list[dict[str, Any]]) -> None:
    (folder / f"shard-{worker}.json").write_text(json.dumps({**study, "workerIndex": worker, "workers": workers, "trials": trials}))


@dataclass
class Study:
    server: MlflowServer
    client: MlflowClient
    folder: Path
    study_id: str
    experiment_name: str
    experiment_id: str
    env: dict[str, str]
    prepare_outputs: list[str]
    first_runs: list[subprocess.CompletedProcess[str]]

    def trial_runs(self, view: int = ViewType.ACTIVE_ONLY) -> list[Run]:
        return self.client.search_runs(
            [self.experiment_id], tag_filter({"mlops.study_id": self.study_id, "mlops.role": "trial"}), run_view_type=view
        )

    def run_worker(self, worker: int) -> subprocess.CompletedProcess[str]:
        return run_cli(TRAINER, ["run", "--spec", str(self.folder / "shard-{index}.json"), "--worker-index", str(worker)], self.env)


def run_workers_concurrently(folder: Path, env: dict[str, str], workers: int) -> list[subprocess.CompletedProcess[str]]:
    """Like a Kubernetes Indexed Job: the worker index comes from JOB_COMPLETION_INDEX."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(TRAINER), "run", "--spec", str(folder / "shard-{index}.json")],
            env={**env, "JOB_COMPLETION_INDEX": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.fixture(scope="module")
def study(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("study")
    study_id = f"test-{uuid.uuid4().hex[:10]}"
    spec = study_spec(study_id, f"trainer-tests-{study_id}")
    for worker in (0, 1):
        write_shard(folder, spec, worker, 2, [t for t in TRIALS if t["index"] % 2 == worker])
    env = client_env(mlflow_server.url)
    started = time.monotonic()
    prepares = [run_cli(TRAINER, ["prepare", "--spec", str(folder / "shard-{index}.json"), "--worker-index", "0"], env) for _ in range(2)]
    for result in prepares:
        assert result.returncode == 0, result.stderr
    runs = run_workers_concurrently(folder, env, 2)
    print(f"prepare x2 + two workers: {time.monotonic() - started:.1f}s")
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name(spec["experimentName"])
    assert experiment is not None
    return Study(
        mlflow_server, client, folder, study_id, spec["experimentName"], experiment.experiment_id, env, [p.stdout for p in prepares], runs
    )


def by_key(runs: list[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(run.data.tags["mlops.trial_key"], []).append(run)
    return grouped


def test_prepare_creates_one_study_run_and_reuses_it(study: Study) -> None:
    parents = study.client.search_runs([study.experiment_id], tag_filter({"mlops.study_id": study.study_id, "mlops.role": "study"}))
    assert len(parents) == 1 and parents[0].info.run_name == f"study-{study.study_id}"
    assert "created run" in study.prepare_outputs[0] and f"reusing run {parents[0].info.run_id}" in study.prepare_outputs[1]


def test_workers_finish_valid_trials_with_cv_metrics_and_models(study: Study) -> None:
    for result in study.first_runs:
        assert result.returncode == 0, result.stderr
    parent = study.client.search_runs([study.experiment_id], tag_filter({"mlops.study_id": study.study_id, "mlops.role": "study"}))[0]
    runs = by_key(study.trial_runs())
    assert sorted(runs) == ["key-a", "key-b", "key-bad", "key-d"] and all(len(r) == 1 for r in runs.values())
    for trial in TRIALS:
        run = runs[trial["key"]][0]
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["mlops.trial_index"] == str(trial["index"]) and tags["mlops.worker_index"] == str(trial["index"] % 2)
        assert run.data.params["model_family"] == "random_forest" and run.data.params["cv_folds"] == str(FOLDS)
        assert run.data.params["n_estimators"] == str(trial["params"]["n_estimators"]) and run.data.params["seed"] == "42"
        if trial["key"] == "key-bad":
            continue
        assert run.info.status == "FINISHED"
        assert set(run.data.metrics) == EXPECTED_METRICS
        folds = [run.data.metrics[f"cv_{SCORING}_fold_{k}"] for k in range(FOLDS)]
        assert run.data.metrics[f"cv_{SCORING}_mean"] == pytest.approx(sum(folds) / FOLDS)
        assert 0.5 < run.data.metrics[f"test_{SCORING}"] <= 1
        assert tags["mlops.model_source"].startswith(f"mlflow-artifacts:/{study.experiment_id}/models/m-")
    worker_output = study.first_runs[0].stdout
    assert "trial 1/2 #0 key=key-a" in worker_output and f"cv_{SCORING}_mean=" in worker_output


def test_invalid_trial_ends_failed_with_one_line_error(study: Study) -> None:
    run = by_key(study.trial_runs())["key-bad"][0]
    assert run.info.status == "FAILED"
    error = run.data.tags["mlops.error"]
    assert "n_estimators" in error and "\n" not in error
    assert "mlops.model_source" not in run.data.tags
    assert "key=key-bad: FAILED" in study.first_runs[0].stdout and "failed 1" in study.first_runs[0].stdout


def test_rerun_trains_nothing_and_keeps_one_run_per_key(study: Study) -> None:
    before = {r.info.run_id: r.info.end_time for r in study.trial_runs() if r.info.status == "FINISHED"}
    for worker in (0, 1):
        result = study.run_worker(worker)
        assert result.returncode == 0, result.stderr
        assert "trained 0" in result.stdout and "already finished" in result.stdout
    after = study.trial_runs()
    assert {r.info.run_id: r.info.end_time for r in after if r.info.status == "FINISHED"} == before
    assert len(after) == len(TRIALS)  # the failed trial was retried in its own run, not a new one


def test_interrupted_trial_is_resumed_not_duplicated(study: Study) -> None:
    """A worker killed mid-trial leaves RUNNING runs; the retry reuses the newest and drops the rest."""
    parent_id = study.client.search_runs([study.experiment_id], tag_filter({"mlops.study_id": study.study_id, "mlops.role": "study"}))[
        0
    ].info.run_id
    trial = {"index": 4, "key": "key-resumed", "params": {"n_estimators": 6, "max_depth": 2}}
    tags = {"mlops.study_id": study.study_id, "mlops.trial_key": trial["key"], "mlops.role": "trial", "mlflow.parentRunId": parent_id}
    stale = study.client.create_run(study.experiment_id, tags=tags)
    time.sleep(0.01)
    interrupted = study.client.create_run(study.experiment_id, tags=tags)
    write_shard(study.folder, study_spec(study.study_id, study.experiment_name), 2, 3, [trial])
    result = study.run_worker(2)
    assert result.returncode == 0, result.stderr
    assert f"resuming run {interrupted.info.run_id}" in result.stdout
    runs = by_key(study.trial_runs())["key-resumed"]
    assert [(r.info.run_id, r.info.status) for r in runs] == [(interrupted.info.run_id, "FINISHED")]
    assert study.client.get_run(stale.info.run_id).info.lifecycle_stage == "deleted"


def test_model_source_registers_over_rest_and_alias_loads(study: Study) -> None:
    best = max((r for r in study.trial_runs() if r.info.status == "FINISHED"), key=lambda r: r.data.metrics[f"cv_{SCORING}_mean"])
    api, name = f"{study.server.url}/api/2.0/mlflow", f"model-{study.study_id}"
    requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).raise_for_status()
    created = requests.post(
        f"{api}/model-versions/create",
        json={"name": name, "source": best.data.tags["mlops.model_source"], "run_id": best.info.run_id},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    version = created.json()["model_version"]["version"]
    requests.post(
        f"{api}/registered-models/alias", json={"name": name, "alias": "champion", "version": version}, timeout=30
    ).raise_for_status()
    mlflow.set_tracking_uri(study.server.url)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    frame = synthesize(GenerateSpec(**GENERATE, weights=None))
    predictions = model.predict(frame.drop(columns=["target"]))
    assert set(predictions) <= {0, 1} and (predictions == frame["target"]).mean() > 0.7


def test_unreachable_server_exits_3_after_bounded_retries(study: Study) -> None:
    from mlflow_testing import free_port

    env = client_env(f"http://127.0.0.1:{free_port()}", MLOPS_TRACKING_RETRY_SECONDS="3")
    started = time.monotonic()
    result = run_cli(TRAINER, ["prepare", "--spec", str(study.folder / "shard-0.json")], env)
    assert result.returncode == 3, result.stderr
    assert "tracking server unavailable after" in result.stderr and "Traceback" not in result.stderr
    assert "retry 1 in" in result.stdout
    assert time.monotonic() - started < 60


def test_bad_inputs_exit_2_with_one_line(study: Study, tmp_path: Path) -> None:
    spec = json.loads((study.folder / "shard-0.json").read_text())
    spec["dataset"]["source"] = str(tmp_path / "missing.csv")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = run_cli(TRAINER, ["run", "--spec", str(tmp_path / "spec.json")], study.env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"trainer: error: dataset {tmp_path / 'missing.csv'}: no such file"
    result = run_cli(
        TRAINER,
        ["run", "--spec", str(tmp_path / "shard-{index}.json")],
        {k: v for k, v in study.env.items() if k != "JOB_COMPLETION_INDEX"},
    )
    assert result.returncode == 2 and "expected --worker-index K or env JOB_COMPLETION_INDEX" in result.stderr
