"""Bring your own model against a real `mlflow server`: a factory in the user's code folder returns a
Pipeline with a custom transformer, behind declared features (a string column with gaps), for a
regression study pruned by WilcoxonPruner. The logged model loads in another process that does not
have the code folder on its path (MLflow `code_paths`), and predicts exactly what the same Pipeline
refitted here predicts; a trial whose factory raises fails with the factory's message."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from byom_code import user_code
from dataset import DatasetError, load_frame, load_frame_and_fingerprint, split_dataset
from features import with_features
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow_testing import TRAINER_DIR, MlflowServer, client_env, run_cli
from modelspec import resolve_model
from sklearn.datasets import make_regression
from spec import DatasetSpec, GenerateSpec, load_shard_spec
from tracking import tag_filter

TRAINER = TRAINER_DIR / "trainer.py"
MODULE = "byom_study_models"
SCORING = "neg_root_mean_squared_error"
TRIALS: list[dict[str, Any]] = [
    {"index": 0, "key": "alpha-0.5", "params": {"alpha": 0.5}},
    {"index": 1, "key": "alpha-bad", "params": {"alpha": -1}},
    {"index": 2, "key": "alpha-5", "params": {"alpha": 5.0}},
]
LOAD_ELSEWHERE = """
import importlib.util, json, sys
import mlflow
import pandas as pd
assert importlib.util.find_spec(sys.argv[2]) is None, "the user's module must not be importable before the model is loaded"
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.DataFrame(json.loads(sys.stdin.read()))
print(json.dumps([float(v) for v in model.predict(frame)]))
"""


def regression_with_region(path: Path) -> None:
    x, y = make_regression(n_samples=300, n_features=3, n_informative=3, noise=10.0, random_state=11)
    rng = np.random.default_rng(2)
    region = rng.choice(["north", "south", "east"], size=len(y))
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"])
    frame["region"] = region
    frame["y"] = y + np.where(region == "north", 40.0, 0.0)
    frame.loc[::10, "region"] = None
    frame.loc[::7, "x1"] = np.nan
    frame.to_csv(path, index=False)


@dataclass
class ByomStudy:
    client: MlflowClient
    folder: Path
    code: Path
    spec_path: Path
    spec: dict[str, Any]
    experiment_id: str
    env: dict[str, str]
    check: subprocess.CompletedProcess[str]
    run: subprocess.CompletedProcess[str]

    def trial_runs(self) -> dict[str, Run]:
        runs = self.client.search_runs([self.experiment_id], tag_filter({"mlops.study_id": self.spec["studyId"], "mlops.role": "trial"}))
        return {r.data.tags["mlops.trial_key"]: r for r in runs}


@pytest.fixture(scope="module")
def byom(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> ByomStudy:
    folder = tmp_path_factory.mktemp("byom")
    code = user_code(folder / "usercode", MODULE)
    regression_with_region(folder / "data.csv")
    study_id = f"byom-{uuid.uuid4().hex[:10]}"
    spec = {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": f"trainer-tests-{study_id}",
        "factory": f"{MODULE}:build",
        "codePath": str(code),
        "requirements": [f"scipy=={metadata.version('scipy')}"],
        "scoring": SCORING,
        "cvFolds": 4,
        "testSize": 0.25,
        "seed": 42,
        "dataset": {
            "source": str(folder / "data.csv"),
            "target": "y",
            "generate": {"rows": 2, "features": 1, "informative": 1, "classes": 2, "seed": 0},
            "features": {
                "numeric": ["x0", "x1", "x2"],
                "categorical": ["region"],
                "impute": {"numeric": "median", "categorical": "most_frequent"},
            },
        },
        "totalTrials": len(TRIALS),
        "maxFailedTrials": 1,
        "search": {"kind": "grid", "budget": len(TRIALS), "seed": 42},
        "pruning": {"kind": "wilcoxon", "afterFolds": 2, "warmupTrials": 0},
        "queue": "journal",
        "workers": 1,
        "workerIndex": 0,
        "trials": TRIALS,
    }
    spec_path = folder / "study.json"
    spec_path.write_text(json.dumps(spec))
    env = client_env(mlflow_server.url)
    check = run_cli(TRAINER, ["check", "--spec", str(spec_path)], env)
    prepared = run_cli(TRAINER, ["prepare", "--spec", str(spec_path)], env)
    assert prepared.returncode == 0, prepared.stderr
    run = run_cli(TRAINER, ["run", "--spec", str(spec_path)], env)
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name(spec["experimentName"])
    assert experiment is not None
    return ByomStudy(client, folder, code, spec_path, spec, experiment.experiment_id, env, check, run)


def test_check_passes_and_the_worker_trains_the_factory_study(byom: ByomStudy) -> None:
    assert byom.check.returncode == 0, byom.check.stdout + byom.check.stderr
    found = json.loads(byom.check.stdout)
    assert (found["ok"], found["task"], found["estimator"], found["acceptedParams"]) == (True, "regression", f"{MODULE}:build", None)
    assert found["columns"]["region"] == "categorical" and found["rows"] == 300
    assert byom.run.returncode == 0, byom.run.stdout + byom.run.stderr
    runs = byom.trial_runs()
    assert sorted(runs) == ["alpha-0.5", "alpha-5", "alpha-bad"]
    finished = [runs["alpha-0.5"], runs["alpha-5"]]
    for run in finished:
        assert run.info.status == "FINISHED"
        assert "test_rmse" in run.data.metrics and "test_accuracy" not in run.data.metrics
        assert run.data.metrics[f"cv_{SCORING}_mean"] < 0 and run.data.metrics[f"test_{SCORING}"] == pytest.approx(
            -run.data.metrics["test_rmse"]
        )
        assert run.data.params["model_family"] == f"{MODULE}:build"


def test_a_factory_that_raises_fails_its_trial_with_the_message(byom: ByomStudy) -> None:
    run = byom.trial_runs()["alpha-bad"]
    assert run.info.status == "FAILED"
    assert (
        run.data.tags["mlops.error"]
        == f"FactoryFailed: factory {MODULE}:build(**{{'alpha': -1}}) raised ValueError: alpha must be >= 0, got -1"
    )
    assert "failed 1" in byom.run.stdout and "1 failed (at most 1 allowed)" in byom.run.stdout


def test_the_logged_model_carries_code_requirements_and_a_string_signature(byom: ByomStudy) -> None:
    import mlflow

    source = byom.trial_runs()["alpha-0.5"].data.tags["mlops.model_source"]
    mlflow.set_tracking_uri(str(byom.env["MLFLOW_TRACKING_URI"]))
    local = Path(mlflow.artifacts.download_artifacts(source, dst_path=str(byom.folder / "downloaded")))
    assert (local / "code" / f"{MODULE}.py").is_file()
    requirements = (local / "requirements.txt").read_text().split()
    assert f"scipy=={metadata.version('scipy')}" in requirements and f"scikit-learn=={metadata.version('scikit-learn')}" in requirements
    inputs = json.loads(mlflow.models.Model.load(str(local)).signature.inputs.to_json())
    assert {c["name"]: c["type"] for c in inputs} == {"x0": "double", "x1": "double", "x2": "double", "region": "string"}


def test_the_model_loads_without_the_code_folder_and_predicts_like_the_refit(byom: ByomStudy) -> None:
    source = byom.trial_runs()["alpha-0.5"].data.tags["mlops.model_source"]
    rows = {"x0": [0.1, -1.0, 2.0], "x1": [0.5, None, 1.5], "x2": [0.0, 0.3, -0.2], "region": ["north", "atlantis", None]}
    env = {k: v for k, v in byom.env.items() if k != "PYTHONPATH"}
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, source, MODULE],
        input=json.dumps(rows),
        env=env,
        cwd=byom.folder,  # not the code folder: `python -c` puts the working directory on sys.path
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert loaded.returncode == 0, loaded.stderr
    served = json.loads(loaded.stdout.strip().splitlines()[-1])
    # The same Pipeline, refitted here on the same train split, predicts the same values.
    sys.path.insert(0, str(byom.code))
    try:
        spec = load_shard_spec(str(byom.spec_path))
        split = split_dataset(load_frame(spec.dataset), spec.dataset, spec.test_size, spec.seed, "regression", spec.cv_folds)
        refit = with_features(resolve_model(None, spec.factory).build({"alpha": 0.5}, spec.seed), spec.dataset.features)
        refit.fit(split.x_train, split.y_train)
        expected = refit.predict(pd.DataFrame(rows))
    finally:
        sys.path.remove(str(byom.code))
    assert served == pytest.approx(list(expected), rel=1e-9)


def test_a_dataset_uploaded_through_the_artifact_proxy_is_read_with_mlflow_credentials_only(
    mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker and kubernetes workers read a local file the driver uploaded (driver/datasetUpload.ts) as
    mlflow-artifacts:/<experiment>/datasets/<sha256>/<name>, with no object-store credential."""
    x, y = make_regression(n_samples=120, n_features=3, noise=5.0, random_state=3)
    csv = tmp_path / "houses.csv"
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y}).to_csv(csv, index=False)
    content = csv.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    path = f"0/datasets/{digest}/houses.csv"
    answer = requests.put(f"{mlflow_server.url}/api/2.0/mlflow-artifacts/artifacts/{path}", data=content, timeout=30)
    assert answer.status_code == 200, answer.text
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    spec = DatasetSpec(source=f"mlflow-artifacts:/{path}", target="y", generate=GenerateSpec(100, 4, 2, 2, None, 1))
    frame, fingerprint = load_frame_and_fingerprint(spec)
    assert fingerprint is not None and fingerprint.sha256 == digest and fingerprint.size == len(content)
    assert frame.equals(load_frame(DatasetSpec(source=str(csv), target="y", generate=spec.generate)))
    missing = DatasetSpec(source=f"mlflow-artifacts:/0/datasets/{'0' * 64}/houses.csv", target="y", generate=spec.generate)
    with pytest.raises(DatasetError, match="cannot download it from the tracking server"):
        load_frame(missing)
