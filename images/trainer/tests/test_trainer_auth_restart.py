"""The trainer against a basic-auth `mlflow server` that starts only after the trainer: it retries
until the server answers, authenticates from env, and never prints the password."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from mlflow_testing import TRAINER_DIR, MlflowServer, client_env, run_cli
from tracking import tag_filter

TRAINER = TRAINER_DIR / "trainer.py"


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        assert process.poll() is None, f"trainer exited early:\n{path.read_text()}"
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not printed within {timeout}s:\n{path.read_text()}")


def test_trainer_waits_for_late_server_and_authenticates(tmp_path: Path) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    server = MlflowServer(tmp_path / "server", admin=("admin", password))
    study_id = f"auth-{uuid.uuid4().hex[:8]}"
    spec: dict[str, Any] = {
        "schemaVersion": 1, "studyId": study_id, "experimentName": f"auth-{study_id}", "estimator": "logistic_regression",
        "scoring": "accuracy", "cvFolds": 2, "testSize": 0.3, "seed": 1, "totalTrials": 1, "workerIndex": 0, "workers": 1,
        "dataset": {"source": "generated", "target": "target", "generate": {"rows": 120, "features": 4, "informative": 2, "classes": 2, "seed": 3}},
        "trials": [{"index": 0, "key": "key-lr", "params": {"C": 0.5}}],
    }  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = client_env(server.url, MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password, MLOPS_TRACKING_RETRY_SECONDS="150")
    log = tmp_path / "prepare.log"
    with open(log, "wb") as out:
        prepare = subprocess.Popen(
            [sys.executable, str(TRAINER), "prepare", "--spec", str(tmp_path / "spec.json")], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_text(log, "retry 1 in", prepare, timeout=90)  # the server is not there yet
        started = time.monotonic()
        server.start()
        print(f"\nbasic-auth server up in {time.monotonic() - started:.1f}s")
        assert oct((server.root / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"
        assert prepare.wait(timeout=180) == 0, log.read_text()
        assert "created run" in log.read_text()

        trained = run_cli(TRAINER, ["run", "--spec", str(tmp_path / "spec.json")], env)
        assert trained.returncode == 0, trained.stderr
        for output in (log.read_text(), trained.stdout, trained.stderr):
            assert password not in output

        client = MlflowClient(server.url)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            patch.setenv("MLFLOW_TRACKING_PASSWORD", password)
            experiment = client.get_experiment_by_name(spec["experimentName"])
            assert experiment is not None
            runs = client.search_runs([experiment.experiment_id], tag_filter({"mlops.trial_key": "key-lr"}))
        assert [r.info.status for r in runs] == ["FINISHED"] and "mlops.model_source" in runs[0].data.tags

        wrong = run_cli(
            TRAINER, ["prepare", "--spec", str(tmp_path / "spec.json")], {**env, "MLFLOW_TRACKING_PASSWORD": "wrong-" + password}
        )
        assert wrong.returncode == 1 and "MLflow refused the request" in wrong.stderr and "Traceback" not in wrong.stderr
        assert password not in wrong.stdout + wrong.stderr
    finally:
        if prepare.poll() is None:
            prepare.kill()
        server.stop()
