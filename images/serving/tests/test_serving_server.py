"""server.py as a process in front of a model registered in a real `mlflow server`."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from mlflow_testing import SERVING_DIR, MlflowServer, client_env, free_port, stop_process_group, tail, wait_for_http

SERVER = SERVING_DIR / "server.py"
COLUMNS = [f"feature_{i}" for i in range(4)]


@dataclass
class Served:
    url: str
    log: Path
    model_name: str
    version: str
    run_id: str
    rows: pd.DataFrame
    expected: np.ndarray
    loading_answer: requests.Response


def register(mlflow_server: MlflowServer, name: str) -> tuple[str, str, pd.DataFrame, np.ndarray]:
    """Logs a small classifier and registers it over REST the way the select phase does."""
    x, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=1, random_state=0)
    frame = pd.DataFrame(x, columns=COLUMNS)
    model = LogisticRegression().fit(frame, y)
    mlflow.set_tracking_uri(mlflow_server.url)
    client = MlflowClient(mlflow_server.url)
    experiment_id = client.create_experiment(f"serving-{name}")
    mlflow.set_experiment(experiment_id=experiment_id)
    run = client.create_run(experiment_id)
    info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, model.predict(frame)), input_example=frame.head(3), pip_requirements=["scikit-learn"])
    client.set_terminated(run.info.run_id)
    source = client.get_logged_model(info.model_id).artifact_location
    api = f"{mlflow_server.url}/api/2.0/mlflow"
    requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).raise_for_status()
    created = requests.post(f"{api}/model-versions/create", json={"name": name, "source": source, "run_id": run.info.run_id}, timeout=30)
    created.raise_for_status()
    rows = frame.head(6)
    return created.json()["model_version"]["version"], run.info.run_id, rows, model.predict(rows)


def start_server(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / f"server-{uuid.uuid4().hex[:6]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


@pytest.fixture(scope="module")
def served(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serving")
    name = f"served-{uuid.uuid4().hex[:8]}"
    version, run_id, rows, expected = register(mlflow_server, name)
    port = free_port()
    env = client_env(mlflow_server.url, MODEL_URI=f"models:/{name}@champion", PORT=str(port), HOST="127.0.0.1", REPLICA_ID="replica-7", MODEL_LOAD_TIMEOUT_SECONDS="120", TMPDIR=str(tmp))
    proc, log = start_server(tmp, env)
    url = f"http://127.0.0.1:{port}"
    try:
        # The alias is not set yet: the server must be up but not ready, and keep retrying.
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, tail(log)
            try:
                loading = requests.get(f"{url}/ping", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, tail(log)
                time.sleep(0.3)
        requests.post(f"{mlflow_server.url}/api/2.0/mlflow/registered-models/alias", json={"name": name, "alias": "champion", "version": version}, timeout=30).raise_for_status()
        wait_for_http(f"{url}/ping", 120, proc, log)
        yield Served(url, log, name, version, run_id, rows, expected, loading)
    finally:
        stop_process_group(proc)


def test_not_ready_until_loaded_then_healthy(served: Served) -> None:
    assert served.loading_answer.status_code == 503 and served.loading_answer.json()["status"] == "loading"
    for path in ("/ping", "/health"):
        answer = requests.get(served.url + path, timeout=10)
        assert answer.status_code == 200 and answer.json()["version"] == served.version
    assert "model not loaded yet (attempt 1" in served.log.read_text()


def test_version_names_model_alias_version_run_and_replica(served: Served) -> None:
    answer = requests.get(f"{served.url}/version", timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Replica-Id"] == "replica-7"
    body = answer.json()
    assert (body["model_name"], body["alias"], body["version"], body["run_id"], body["replica_id"]) == (served.model_name, "champion", served.version, served.run_id, "replica-7")


def payloads(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    records = rows.to_dict(orient="records")
    return {
        "dataframe_split": {"dataframe_split": rows.to_dict(orient="split", index=False)},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": rows.to_numpy().tolist()},
        "inputs": {"inputs": records},
    }


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_invocations_predict_like_the_model(served: Served, fmt: str) -> None:
    answer = requests.post(f"{served.url}/invocations", json=payloads(served.rows)[fmt], timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Replica-Id"] == "replica-7"
    assert answer.json()["predictions"] == served.expected.tolist()
    assert set(answer.json()["predictions"]) <= {0, 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "expected a JSON body"),
        (b'{"rows": [[1, 2, 3, 4]]}', "unknown keys: rows"),
        (b'{"instances": [[1, 2]]}', "expected 4 values per row"),
        (b'{"dataframe_records": [{"feature_0": 1.0}]}', "Model is missing inputs"),
        (b'{"dataframe_records": [{"feature_0": "x", "feature_1": 1, "feature_2": 1, "feature_3": 1}]}', "feature_0"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_json_error(served: Served, body: bytes, message: str) -> None:
    answer = requests.post(f"{served.url}/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 400 and answer.headers["X-Replica-Id"] == "replica-7"
    assert message in answer.json()["error"] and "\n" not in answer.json()["error"]


def test_every_request_logs_one_access_line_with_the_replica(served: Served) -> None:
    requests.get(f"{served.url}/no-such-path", timeout=10)
    time.sleep(0.2)
    lines = [line for line in served.log.read_text().splitlines() if line.startswith("access ")]
    assert any('replica=replica-7 client=127.0.0.1 "GET /no-such-path" 404' in line for line in lines)
    assert any('"POST /invocations" 200' in line for line in lines)
    assert all("replica=replica-7" in line for line in lines)


def test_exits_non_zero_when_the_model_never_loads(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    env = client_env(mlflow_server.url, MODEL_URI="models:/never-registered@champion", PORT=str(free_port()), HOST="127.0.0.1", MODEL_LOAD_TIMEOUT_SECONDS="2")
    proc, log = start_server(tmp_path, env)
    try:
        assert proc.wait(timeout=90) == 1
    finally:
        stop_process_group(proc)
    assert "server: error: could not load models:/never-registered@champion after" in log.read_text()


@pytest.mark.parametrize(("overrides", "message"), [({"MODEL_URI": "runs:/abc/model"}, "expected models:/<name>@<alias>"), ({"MLFLOW_TRACKING_URI": ""}, "MLFLOW_TRACKING_URI is not set")])
def test_bad_configuration_exits_2_with_one_line(mlflow_server: MlflowServer, overrides: dict[str, str], message: str) -> None:
    env = {**client_env(mlflow_server.url, MODEL_URI="models:/m@champion"), **overrides}
    result = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
