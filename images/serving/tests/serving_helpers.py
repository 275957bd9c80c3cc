"""A model registered in a real `mlflow server` and server.py started in front of it, as a process."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import requests
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from mlflow_testing import SERVING_DIR, MlflowServer, client_env, tail
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

SERVER = SERVING_DIR / "server.py"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
COLUMNS = [f"feature_{i}" for i in range(4)]


@dataclass
class Registered:
    name: str
    version: str
    run_id: str
    rows: pd.DataFrame
    expected: np.ndarray


def register(mlflow_server: MlflowServer, name: str) -> Registered:
    """Logs a small classifier and registers it. The model takes the log of its (positive) inputs
    first, so a negative value passes the input contract but makes the model itself fail: that is
    how the tests provoke a failure inside the model."""
    x, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=1, random_state=0)
    frame = pd.DataFrame(np.abs(x) + 0.5, columns=COLUMNS)
    model = make_pipeline(FunctionTransformer(np.log), LogisticRegression()).fit(frame, y)
    rows = frame.head(6)
    return register_model(mlflow_server, name, model, frame, rows, pip_requirements=["scikit-learn"])


def register_model(mlflow_server: MlflowServer, name: str, model: Any, frame: pd.DataFrame, rows: pd.DataFrame, **log: Any) -> Registered:
    """Logs `model` with mlflow.sklearn (signature and input example from the raw frame, as the
    trainer does; `log` adds e.g. code_paths or metadata) and registers it over REST the way the
    select phase does."""
    mlflow.set_tracking_uri(mlflow_server.url)
    client = MlflowClient(mlflow_server.url)
    experiment_id = client.create_experiment(f"serving-{name}")
    mlflow.set_experiment(experiment_id=experiment_id)
    run = client.create_run(experiment_id)
    info = mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(frame, model.predict(frame)), input_example=frame.head(3), **log
    )
    client.set_terminated(run.info.run_id)
    source = client.get_logged_model(info.model_id).artifact_location
    api = f"{mlflow_server.url}/api/2.0/mlflow"
    requests.post(f"{api}/registered-models/create", json={"name": name}, timeout=30).raise_for_status()
    created = requests.post(f"{api}/model-versions/create", json={"name": name, "source": source, "run_id": run.info.run_id}, timeout=30)
    created.raise_for_status()
    return Registered(name, created.json()["model_version"]["version"], run.info.run_id, rows, model.predict(rows))


def set_champion(mlflow_server: MlflowServer, model: Registered) -> None:
    alias = {"name": model.name, "alias": "champion", "version": model.version}
    requests.post(f"{mlflow_server.url}/api/2.0/mlflow/registered-models/alias", json=alias, timeout=30).raise_for_status()


def register_champion(mlflow_server: MlflowServer) -> Registered:
    model = register(mlflow_server, f"served-{uuid.uuid4().hex[:8]}")
    set_champion(mlflow_server, model)
    return model


def server_env(mlflow_server: MlflowServer, model_name: str, tmp: Path, **extra: str) -> dict[str, str]:
    return client_env(
        mlflow_server.url,
        MODEL_URI=f"models:/{model_name}@champion",
        PORT="0",
        HOST="127.0.0.1",
        REPLICA_ID="replica-7",
        MODEL_LOAD_TIMEOUT_SECONDS="120",
        TMPDIR=str(tmp),
        **extra,
    )


def start_server(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path, str]:
    """Starts server.py; with PORT=0 it binds a free port itself and its log says which (no other
    process on this busy machine can take the port between choosing and binding it)."""
    log = tmp / f"server-{uuid.uuid4().hex[:6]}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while (found := _LISTENING.search(log.read_text(errors="replace"))) is None:
        assert proc.poll() is None and time.monotonic() < deadline, f"server.py did not say where it listens:\n{tail(log)}"
        time.sleep(0.1)
    return proc, log, f"http://127.0.0.1:{found[1]}"


def wait_listening(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> requests.Response:
    """The first answer of /ping, whatever its status."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, tail(log)
        try:
            return requests.get(f"{url}/ping", timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            assert time.monotonic() < deadline, tail(log)
            time.sleep(0.2)


def split_body(rows: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": rows.to_dict(orient="split", index=False)}
