"""Trainer building blocks without a server: spec reading, data, estimators, scoring, retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from dataset import DatasetError, load_frame, split_dataset, synthesize
from evaluation import evaluate
from mlflow.exceptions import MlflowException, RestException
from mlflow_testing import TRAINER_DIR, client_env, run_cli
from modelspec import resolve_model
from runner import metric_names
from sklearn.pipeline import Pipeline
from spec import DatasetSpec, GenerateSpec, SpecError, load_shard_spec, resolve_spec_path
from tracking import RetryPolicy, Tracking, TrackingUnavailable, is_transient, one_line, short_reason, tag_filter

GEN = GenerateSpec(rows=240, features=6, informative=3, classes=2, weights=None, seed=7)


def shard_json(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schemaVersion": 1,
        "studyId": "unit-0123456789",
        "experimentName": "unit",
        "estimator": "random_forest",
        "scoring": "f1_macro",
        "cvFolds": 3,
        "testSize": 0.25,
        "seed": 42,
        "dataset": {
            "source": "generated",
            "target": "target",
            "generate": {"rows": 240, "features": 6, "informative": 3, "classes": 2, "seed": 7},
        },
        "totalTrials": 1,
        "workerIndex": 0,
        "workers": 1,
        "trials": [{"index": 0, "key": "k0", "params": {"n_estimators": 5, "max_depth": None}}],
    }
    spec.update(overrides)
    return spec


def write(path: Path, content: dict[str, Any]) -> str:
    path.write_text(json.dumps(content))
    return str(path)


# ---------- spec ----------


def test_spec_reads_the_contract(tmp_path: Path) -> None:
    spec = load_shard_spec(write(tmp_path / "s.json", shard_json()))
    assert spec.study_id == "unit-0123456789" and spec.cv_folds == 3 and spec.test_size == 0.25
    assert spec.dataset.generate == GEN
    assert spec.trials[0].params == {"n_estimators": 5, "max_depth": None}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"cvFolds": 1}, "key 'cvFolds': expected an integer >= 2, got 1"),
        ({"factory": "models:build"}, "key 'factory': expected exactly one of 'estimator' and 'factory'"),
        ({"requirements": ["xgboost>=3"]}, "key 'requirements[0]': expected an exact pin such as xgboost==3.0.5"),
        ({"task": "clustering"}, "key 'task': expected one of classification, regression"),
        ({"testSize": 1.5}, "key 'testSize': expected a number between 0 and 1"),
        (
            {"trials": [{"index": 0, "key": "k", "params": {"x": [1]}}]},
            "key 'trials[0].params.x': expected a string, number, boolean or null",
        ),
        ({"schemaVersion": 2}, "key 'schemaVersion': expected 1"),
    ],
)
def test_spec_errors_name_file_and_key(tmp_path: Path, overrides: dict[str, Any], fragment: str) -> None:
    path = write(tmp_path / "bad.json", shard_json(**overrides))
    with pytest.raises(SpecError) as err:
        load_shard_spec(path)
    assert str(err.value).startswith(f"spec {path}: ") and fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_spec_missing_key_and_bad_json(tmp_path: Path) -> None:
    raw = shard_json()
    del raw["dataset"]["generate"]["rows"]
    with pytest.raises(SpecError, match=r"key 'dataset.generate.rows' is missing"):
        load_shard_spec(write(tmp_path / "s.json", raw))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SpecError, match=r"broken.json: not valid JSON"):
        load_shard_spec(str(tmp_path / "broken.json"))
    with pytest.raises(SpecError, match=r"absent.json: cannot read"):
        load_shard_spec(str(tmp_path / "absent.json"))


def test_index_placeholder_from_flag_or_job_completion_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    assert resolve_spec_path("/s/shard-{index}.json", 3) == ("/s/shard-3.json", 3)
    with pytest.raises(SpecError, match="expected --worker-index K or env JOB_COMPLETION_INDEX"):
        resolve_spec_path("/s/shard-{index}.json", None)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "5")
    assert resolve_spec_path("/s/shard-{index}.json", None) == ("/s/shard-5.json", 5)
    assert resolve_spec_path("/s/shard-{index}.json", 1) == ("/s/shard-1.json", 1)  # the flag wins
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "x")
    with pytest.raises(SpecError, match="JOB_COMPLETION_INDEX='x'"):
        resolve_spec_path("/s/shard.json", None)


# ---------- data ----------


def test_synthesis_is_deterministic_and_honours_weights() -> None:
    a, b = synthesize(GEN), synthesize(GEN)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [*(f"feature_{i}" for i in range(6)), "target"]
    assert not a.equals(synthesize(GenerateSpec(240, 6, 3, 2, None, seed=8)))
    skewed = synthesize(GenerateSpec(1000, 6, 3, 3, (0.6, 0.3, 0.1), 1), target="label")
    shares = skewed["label"].value_counts(normalize=True).sort_index().to_numpy()
    assert np.allclose(shares, [0.6, 0.3, 0.1], atol=0.05)


@pytest.mark.parametrize(
    "shape", [GenerateSpec(50, 2, 1, 2, None, 0), GenerateSpec(50, 3, 3, 2, None, 0), GenerateSpec(60, 4, 2, 4, None, 0)]
)
def test_synthesis_fits_small_shapes(shape: GenerateSpec) -> None:
    frame = synthesize(shape)
    assert frame.shape == (shape.rows, shape.features + 1) and frame["target"].nunique() == shape.classes


def test_generator_cli_writes_what_the_trainer_synthesises(tmp_path: Path) -> None:
    out = tmp_path / "data" / "train.parquet"
    args = ["--rows", "240", "--features", "6", "--informative", "3", "--classes", "2", "--seed", "7", "--out", str(out)]
    result = run_cli(TRAINER_DIR / "generate_data.py", args, client_env("http://unused"))
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out), synthesize(GEN))
    bad = run_cli(TRAINER_DIR / "generate_data.py", ["--weights", "0.7,x", "--out", str(out)], client_env("http://unused"))
    assert bad.returncode == 2 and "--weights: expected comma-separated numbers" in bad.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_sources_and_missing_target(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"d{suffix}"
    frame = synthesize(GEN, target="label")
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    loaded = load_frame(DatasetSpec(str(path), "label", GEN))
    assert loaded.shape == frame.shape
    split = split_dataset(loaded, DatasetSpec(str(path), "label", GEN), 0.25, 1)
    assert len(split.x_test) == 60 and "label" not in split.x_train.columns
    with pytest.raises(DatasetError, match=rf"dataset {path}: target column 'target' is missing \(columns: feature_0"):
        split_dataset(loaded, DatasetSpec(str(path), "target", GEN), 0.25, 1)


def test_unreadable_sources_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset /nowhere/x.csv: no such file"):
        load_frame(DatasetSpec("/nowhere/x.csv", "target", GEN))
    (tmp_path / "d.txt").write_text("a,b\n")
    with pytest.raises(DatasetError, match=r"expected a .csv or .parquet file"):
        load_frame(DatasetSpec(str(tmp_path / "d.txt"), "target", GEN))
    (tmp_path / "d.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"d.parquet: cannot parse"):
        load_frame(DatasetSpec(str(tmp_path / "d.parquet"), "target", GEN))
    with pytest.raises(DatasetError, match=r"dataset s3://bucket-only: expected s3://bucket/key"):
        load_frame(DatasetSpec("s3://bucket-only", "target", GEN))


# ---------- estimators and scoring ----------


def test_estimators_take_params_and_seed() -> None:
    forest = resolve_model("random_forest", None).build({"n_estimators": 7}, seed=3)
    assert forest.get_params()["n_estimators"] == 7 and forest.get_params()["random_state"] == 3
    linear = resolve_model("logistic_regression", None).build({"C": 0.5}, seed=3)
    assert isinstance(linear, Pipeline) and linear.get_params()["model__C"] == 0.5
    with pytest.raises(TypeError):
        resolve_model("gradient_boosting", None).build({"no_such_param": 1}, seed=0)


def test_evaluation_scores_every_fold() -> None:
    frame = synthesize(GEN)
    split = split_dataset(frame, DatasetSpec("generated", "target", GEN), 0.25, 42)
    scores, model = evaluate(resolve_model("logistic_regression", None).build({"C": 1.0}, 42), split, "f1_macro", 4, 42)
    assert len(scores.fold_scores) == 4 and all(0.5 < s <= 1 for s in scores.fold_scores)
    assert scores.cv_mean == pytest.approx(np.mean(scores.fold_scores)) and scores.cv_std == pytest.approx(np.std(scores.fold_scores))
    assert 0 < scores.test_extra["test_accuracy"] <= 1 and set(scores.test_extra) == {"test_accuracy"} and scores.fit_time_seconds > 0
    assert set(model.predict(split.x_test)) <= {0, 1}
    assert metric_names("f1_macro", 2) == [
        "cv_f1_macro_fold_0",
        "cv_f1_macro_fold_1",
        "cv_f1_macro_mean",
        "cv_f1_macro_std",
        "fit_time_seconds",
        "test_f1_macro",
        "test_accuracy",
    ]


# ---------- retries ----------


def test_transient_errors_are_told_apart() -> None:
    assert is_transient(requests.ConnectionError("refused"))
    assert is_transient(MlflowException("API request to http://x/api failed with exception HTTPConnectionPool: Max retries exceeded"))
    assert is_transient(RestException({"error_code": "INTERNAL_ERROR", "message": "db down"}))
    assert is_transient(RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "later"}))
    assert not is_transient(RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}))
    assert not is_transient(RestException({"error_code": "UNAUTHENTICATED", "message": "who"}))
    assert not is_transient(ValueError("bug"))
    exhausted = MlflowException(
        "API request to http://x/api failed with exception HTTPConnectionPool: Max retries exceeded (Caused by ResponseError('too many 503 error responses'))"
    )
    assert is_transient(exhausted) and short_reason(exhausted) == "HTTP 503"
    assert short_reason(requests.ConnectionError("[Errno 111] Connection refused")) == "connection refused"
    dropped = "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
    assert (
        short_reason(MlflowException(f"API request to http://h/api/2.0/mlflow/runs/log-batch failed with exception {dropped}"))
        == "connection dropped"
    )


def test_retries_until_success_then_gives_up_within_budget() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("refused")
        return "ok"

    lines: list[str] = []
    tracking = Tracking(client=None, policy=RetryPolicy(budget_seconds=10, initial_delay_seconds=0.01), log=lines.append)  # type: ignore[arg-type]
    assert tracking.call("flaky", flaky) == "ok" and len(calls) == 3 and len(lines) == 2

    def down() -> None:
        raise requests.ConnectionError("refused")

    tracking.policy = RetryPolicy(budget_seconds=0.2, initial_delay_seconds=0.05)
    with pytest.raises(TrackingUnavailable, match=r"down: tracking server unavailable after \d+ attempt"):
        tracking.call("down", down)

    def rejected() -> None:
        raise RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"})

    with pytest.raises(RestException):
        tracking.call("rejected", rejected)


def test_logs_and_filters_mask_credentials_and_quote() -> None:
    assert "hunter2" not in one_line(MlflowException("API request to http://bob:hunter2@host/api failed"))
    assert tag_filter({"mlops.study_id": "it's"}) == "tags.`mlops.study_id` = 'it\\'s'"
