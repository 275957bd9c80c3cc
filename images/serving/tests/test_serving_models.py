"""Models a user brings, saved with MLflow into tmp_path and loaded the way the server loads them:
the scikit-learn unwrapping of a Pipeline with a ColumnTransformer, its methods and classes, when
missing values are accepted, and a model whose custom transformer comes only from `code_paths`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from byom_models import COLUMNS, USER_MODULE, classifier, regressor, tabular, write_user_code
from mlflow.models import infer_signature
from mlflow_testing import SERVING_DIR
from model_loader import ALLOW_MISSING_KEY, LoadedModel, ModelRef, describe
from scoring import Contract, check_scoring_request
from server import ServerState
from settings import Settings

REF = ModelRef("byom", "champion", None)


@pytest.fixture(autouse=True)
def file_store(tmp_path: Path) -> Iterator[None]:
    """MLflow's file store in tmp_path: saving a model touches the tracking store, else ./mlruns."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield
    mlflow.set_tracking_uri(previous)


def save(model: Any, frame: Any, path: Path, **extra: Any) -> LoadedModel:
    mlflow.sklearn.save_model(
        model, str(path), signature=infer_signature(frame, model.predict(frame)), input_example=frame.head(3), **extra
    )
    return describe(REF, "1", None, None, mlflow.pyfunc.load_model(str(path)))


def answer(loaded: LoadedModel, payload: dict[str, Any], method: str = "predict") -> list[Any]:
    state = ServerState(REF, Settings("127.0.0.1", 0, "r", 1))
    state.prepare(loaded)
    assert state.contract is not None and state.batcher is not None
    return state.batcher.predict(check_scoring_request(payload, state.contract), method)


def test_a_pipeline_with_a_column_transformer_is_unwrapped_with_its_probabilities(tmp_path: Path) -> None:
    frame, labels, _ = tabular(300, seed=1)
    model = classifier(frame, labels, custom=False)
    loaded = save(model, frame, tmp_path / "model")
    assert set(loaded.sklearn_methods) == {"predict", "predict_proba"} and loaded.classes == ["high", "low", "mid"]
    assert loaded.input_schema is not None and list(loaded.input_schema) == COLUMNS
    # The training data had missing age and city values: the signature marks both optional.
    assert loaded.optional_columns == {"age", "city"} and loaded.allow_nan is False
    fresh, _, _ = tabular(20, seed=2)
    rows = fresh.astype(object).where(fresh.notna(), None).to_numpy().tolist()  # NaN as JSON null
    assert answer(loaded, {"instances": rows}) == model.predict(fresh).tolist()
    proba = answer(loaded, {"instances": rows}, "predict_proba")
    assert np.array_equal(np.array(proba), model.predict_proba(fresh))


def test_a_category_never_seen_in_training_is_scored(tmp_path: Path) -> None:
    frame, labels, _ = tabular(300, seed=3)
    model = classifier(frame, labels, custom=False)
    loaded = save(model, frame, tmp_path / "model")
    row = {"age": 30.0, "income": 20000.0, "city": "atlantis", "plan": "enterprise"}
    assert answer(loaded, {"dataframe_records": [row]}) == model.predict(pd.DataFrame([row])).tolist()


def test_missing_values_follow_the_metadata_key_when_the_training_sample_had_none(tmp_path: Path) -> None:
    """scikit-learn's tags cannot see an imputer inside a ColumnTransformer (allow_nan is False for
    the Pipeline); the trainer says so in the model metadata instead."""
    frame, labels, _ = tabular(300, seed=4, missing=False)
    model = classifier(frame, labels, custom=False)
    plain = save(model, frame, tmp_path / "plain")
    flagged = save(model, frame, tmp_path / "flagged", metadata={ALLOW_MISSING_KEY: True})
    assert plain.optional_columns == frozenset() and plain.allow_nan is False and flagged.allow_nan is True
    schema = dict(plain.input_schema or {})
    assert Contract.from_schema(schema, allow_nan=plain.allow_nan).missing_ok == (False,) * 4
    rows = [[None, 25000.0, None, "pro"], [None, 90000.0, "oslo", "basic"]]
    expected = model.predict(pd.DataFrame([[np.nan if v is None else v for v in row] for row in rows], columns=COLUMNS)).tolist()
    assert answer(flagged, {"instances": rows}) == expected


def test_a_regressor_answers_floats_and_has_no_probabilities(tmp_path: Path) -> None:
    frame, _, target = tabular(300, seed=5)
    model = regressor(frame, target)
    loaded = save(model, frame, tmp_path / "model")
    assert set(loaded.sklearn_methods) == {"predict"} and loaded.classes is None
    rows = frame.head(5).astype(object).where(frame.head(5).notna(), None).to_numpy().tolist()
    got = answer(loaded, {"instances": rows})
    assert all(type(v) is float for v in got) and got == model.predict(frame.head(5)).tolist()


LOAD_ELSEWHERE = """
import json, sys
try:
    import {module}
    print(json.dumps({{"error": "the user module was importable before loading"}}))
    sys.exit(0)
except ImportError:
    pass
import mlflow.pyfunc, pandas as pd
from model_loader import ModelRef, describe
loaded = describe(ModelRef("m", "champion", None), "1", None, None, mlflow.pyfunc.load_model(sys.argv[1]))
rows = pd.read_json(sys.argv[2], orient="split")
print(json.dumps({{"predict": loaded.sklearn_methods["predict"](rows).tolist(), "classes": loaded.classes}}))
"""


def test_a_model_logged_with_code_paths_loads_where_the_users_folder_is_not_on_the_path(tmp_path: Path) -> None:
    """The user's module lives in a folder only this test process has on sys.path; a fresh process
    (cwd elsewhere, PYTHONPATH only the server's folder) cannot import it, yet loads and scores the
    model because mlflow.pyfunc.load_model puts the model's code/ copy on sys.path."""
    folder = write_user_code(tmp_path / "user_code")
    frame, labels, _ = tabular(300, seed=6)
    model = classifier(frame, labels, custom=True)
    assert USER_MODULE in {type(step).__module__ for step in model.named_steps["prepare"].named_transformers_["numbers"]}
    save(model, frame, tmp_path / "model", code_paths=[str(folder / f"{USER_MODULE}.py")])
    rows_file = tmp_path / "rows.json"
    frame.head(8).to_json(rows_file, orient="split", index=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(SERVING_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE.format(module=USER_MODULE), str(tmp_path / "model"), str(rows_file)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    assert out == {"predict": model.predict(frame.head(8)).tolist(), "classes": ["high", "low", "mid"]}


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_the_forest_fast_path_still_serves_both_methods(tmp_path: Path, method: str) -> None:
    from sklearn.ensemble import RandomForestClassifier

    frame, labels, _ = tabular(300, seed=7, missing=False)
    numbers = frame[["age", "income"]]
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(numbers, labels)
    loaded = save(forest, numbers, tmp_path / "model")
    got = answer(loaded, {"instances": numbers.head(10).to_numpy().tolist()}, method)
    assert got == getattr(forest, method)(numbers.head(10)).tolist()
