"""server.py as a process in front of a model registered in a real `mlflow server`."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from mlflow_testing import MlflowServer, client_env, stop_process_group, tail, wait_for_http
from serving_helpers import SERVER, Registered, register, server_env, set_champion, split_body, start_server, wait_listening


@dataclass
class Served:
    url: str
    log: Path
    model: Registered
    loading_answer: requests.Response


@pytest.fixture(scope="module")
def served(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serving")
    model = register(mlflow_server, f"served-{uuid.uuid4().hex[:8]}")
    proc, log, url = start_server(tmp, server_env(mlflow_server, model.name, tmp))
    try:
        # The alias is not set yet: the server must be up but not ready, and keep retrying.
        loading = wait_listening(url, proc, log)
        deadline = time.monotonic() + 90
        while "model not loaded yet (attempt 1" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, tail(log)
            time.sleep(0.2)
        set_champion(mlflow_server, model)
        wait_for_http(f"{url}/ping", 120, proc, log)
        yield Served(url, log, model, loading)
    finally:
        stop_process_group(proc)


def test_not_ready_until_loaded_then_healthy(served: Served) -> None:
    assert served.loading_answer.status_code == 503 and served.loading_answer.json()["status"] == "loading"
    for path in ("/ping", "/health"):
        answer = requests.get(served.url + path, timeout=10)
        assert answer.status_code == 200 and answer.json()["version"] == served.model.version
    assert "model not loaded yet (attempt 1" in served.log.read_text()
    assert "checked and batched scikit-learn predictions" in served.log.read_text()


def test_version_names_model_alias_version_run_and_replica(served: Served) -> None:
    answer = requests.get(f"{served.url}/version", timeout=10)
    assert answer.status_code == 200 and answer.headers["X-Replica-Id"] == "replica-7"
    body = answer.json()
    assert (body["model_name"], body["alias"], body["version"], body["run_id"], body["replica_id"]) == (
        served.model.name,
        "champion",
        served.model.version,
        served.model.run_id,
        "replica-7",
    )


def test_example_is_a_row_the_server_accepts(served: Served) -> None:
    example = requests.get(f"{served.url}/example", timeout=10)
    assert example.status_code == 200 and example.json()["dataframe_split"]["columns"] == list(served.model.rows.columns)
    answer = requests.post(f"{served.url}/invocations", json=example.json(), timeout=30)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1


def payloads(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    records = rows.to_dict(orient="records")
    return {
        "dataframe_split": split_body(rows),
        "dataframe_split_reordered": split_body(rows[list(reversed(rows.columns))]),
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": rows.to_numpy().tolist()},
        "inputs": {"inputs": records},
        "inputs_columns": {"inputs": rows.to_dict(orient="list")},
    }


@pytest.mark.parametrize("fmt", list(payloads(pd.DataFrame({"a": [1]}))))
def test_invocations_predict_like_the_model(served: Served, fmt: str) -> None:
    answer = requests.post(f"{served.url}/invocations", json=payloads(served.model.rows)[fmt], timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Replica-Id"] == "replica-7"
    assert answer.json()["predictions"] == served.model.expected.tolist()


def test_concurrent_requests_each_get_their_own_predictions(served: Served) -> None:
    """Requests coalesced into one predict call get back exactly their own rows' predictions."""
    rows = served.model.rows
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda i: requests.post(f"{served.url}/invocations", json=split_body(rows.iloc[[i % len(rows)]]), timeout=30), range(96)
            )
        )
    assert [a.status_code for a in answers] == [200] * 96
    assert [a.json()["predictions"][0] for a in answers] == [served.model.expected.tolist()[i % len(rows)] for i in range(96)]


def test_every_request_logs_one_access_line_with_the_replica(served: Served) -> None:
    requests.get(f"{served.url}/no-such-path", timeout=10)
    time.sleep(0.2)
    lines = [line for line in served.log.read_text().splitlines() if line.startswith("access ")]
    assert any('replica=replica-7 client=127.0.0.1 "GET /no-such-path" 404' in line for line in lines)
    assert any('"POST /invocations" 200' in line for line in lines)
    assert all("replica=replica-7" in line for line in lines)


def test_exits_non_zero_when_the_model_never_loads(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    env = client_env(
        mlflow_server.url, MODEL_URI="models:/never-registered@champion", PORT="0", HOST="127.0.0.1", MODEL_LOAD_TIMEOUT_SECONDS="2"
    )
    proc, log, _ = start_server(tmp_path, env)
    try:
        assert proc.wait(timeout=90) == 1
    finally:
        stop_process_group(proc)
    assert "server: error: could not load models:/never-registered@champion after" in log.read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MODEL_URI": "runs:/abc/model"}, "expected models:/<name>@<alias>"),
        ({"MLFLOW_TRACKING_URI": ""}, "MLFLOW_TRACKING_URI is not set"),
        ({"SERVING_WORKERS": "0"}, "SERVING_WORKERS='0': expected at least 1"),
        ({"SERVING_MAX_ROWS": "many"}, "SERVING_MAX_ROWS='many': expected an integer"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(mlflow_server: MlflowServer, overrides: dict[str, str], message: str) -> None:
    env = {**client_env(mlflow_server.url, MODEL_URI="models:/m@champion"), **overrides}
    result = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
