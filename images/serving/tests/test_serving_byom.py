"""Models a user brings, served by a real server.py in front of a real `mlflow server`: a Pipeline on
string and float columns with the user's own transformer (logged with `code_paths`, its folder not
on the server's path), probabilities on request, and a regressor answering floats."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from byom_models import USER_MODULE, classifier, regressor, tabular, write_user_code
from mlflow_testing import MlflowServer, stop_process_group, wait_for_http
from serving_helpers import Registered, register_model, server_env, set_champion, start_server

PROBA = {"predict_method": "predict_proba"}


@dataclass
class Served:
    url: str
    log: Path
    model: Any
    registered: Registered


def plain(rows: pd.DataFrame) -> pd.DataFrame:
    """Python values, missing cells as None (JSON null); pandas' own to_json would round the floats."""
    return rows.astype(object).where(rows.notna(), None)


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    return plain(rows).to_dict(orient="records")


def serve(
    mlflow_server: MlflowServer, tmp: Path, name: str, model: Any, frame: pd.DataFrame, rows: pd.DataFrame, **log: Any
) -> Iterator[Served]:
    registered = register_model(mlflow_server, name, model, frame, rows, **log)
    set_champion(mlflow_server, registered)
    proc, log_file, url = start_server(tmp, server_env(mlflow_server, name, tmp))
    try:
        wait_for_http(f"{url}/ping", 180, proc, log_file)
        yield Served(url, log_file, model, registered)
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="module")
def served_classifier(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("byom-classifier")
    folder = write_user_code(tmp / "user_code")  # on this process's sys.path only, never the server's
    frame, labels, _ = tabular(400, seed=11)
    model = classifier(frame, labels, custom=True)
    rows, _, _ = tabular(12, seed=12)
    yield from serve(mlflow_server, tmp, "byom-classifier", model, frame, rows, code_paths=[str(folder / f"{USER_MODULE}.py")])


@pytest.fixture(scope="module")
def served_regressor(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("byom-regressor")
    frame, _, target = tabular(400, seed=13)
    rows, _, _ = tabular(12, seed=14)
    yield from serve(mlflow_server, tmp, "byom-regressor", regressor(frame, target), frame, rows)


def post(served: Served, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{served.url}/invocations", json=body, timeout=30)


def test_a_pipeline_with_user_code_and_missing_values_predicts_like_the_model(served_classifier: Served) -> None:
    rows = served_classifier.registered.rows
    assert rows.isna().any().any()  # the rows hold missing numbers and strings, sent as null
    answer = post(served_classifier, {"dataframe_records": records(rows)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": served_classifier.registered.expected.tolist()}
    assert "checked and batched scikit-learn predictions" in served_classifier.log.read_text()


def test_probabilities_on_request_come_with_their_classes(served_classifier: Served) -> None:
    rows = served_classifier.registered.rows
    answer = post(served_classifier, {"params": PROBA, "dataframe_split": plain(rows).to_dict(orient="split", index=False)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"predictions", "classes"} and body["classes"] == ["high", "low", "mid"]
    assert np.array_equal(np.array(body["predictions"]), served_classifier.model.predict_proba(rows))


def test_a_category_never_seen_in_training_is_answered(served_classifier: Served) -> None:
    row = {"age": 33.0, "income": 41000.0, "city": "atlantis", "plan": "enterprise"}
    answer = post(served_classifier, {"dataframe_records": [row]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == served_classifier.model.predict(pd.DataFrame([row])).tolist()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"city": 7}, "dataframe_records[1].city: expected a string, got an integer (7)"),
        ({"age": "forty"}, "dataframe_records[1].age: expected a number, got a string ('forty')"),
        ({"plan": None}, "dataframe_records[1].plan: null (a missing value) is not accepted by this model; send a string"),
    ],
)
def test_wrong_types_are_400s_naming_row_and_column(served_classifier: Served, change: dict[str, Any], message: str) -> None:
    good = {"age": 33.0, "income": 41000.0, "city": "oslo", "plan": "pro"}
    answer = post(served_classifier, {"dataframe_records": [good, {**good, **change}]})
    assert answer.status_code == 400 and answer.json() == {"error": message}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"predict_method": "decision_function"}, "params.predict_method: 'decision_function' is not one of predict, predict_proba"),
        ({"method": "predict_proba"}, "params: unknown parameters: method; this server accepts: predict_method"),
    ],
)
def test_unknown_params_are_400s(served_classifier: Served, params: dict[str, Any], message: str) -> None:
    answer = post(served_classifier, {"params": params, "dataframe_records": records(served_classifier.registered.rows)})
    assert answer.status_code == 400 and answer.json() == {"error": message}


def test_concurrent_predictions_and_probabilities_each_get_their_own_shape(served_classifier: Served) -> None:
    rows = served_classifier.registered.rows
    labels, proba = served_classifier.registered.expected.tolist(), served_classifier.model.predict_proba(rows).tolist()

    def one(i: int) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"dataframe_records": records(rows.iloc[[i % len(rows)]])}
        if i % 2:
            body["params"] = PROBA
        answer = post(served_classifier, body)
        return answer.status_code, answer.json()

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(72)))
    assert [status for status, _ in answers] == [200] * 72
    for i, (_, body) in enumerate(answers):
        if i % 2:  # coalesced with other rows: BLAS may round the last bit differently than for these 12
            assert "classes" in body and np.allclose(body["predictions"], [proba[i % len(rows)]], rtol=1e-12, atol=0), i
        else:
            assert body == {"predictions": [labels[i % len(rows)]]}, i


def test_a_regressor_answers_floats(served_regressor: Served) -> None:
    answer = post(served_regressor, {"dataframe_records": records(served_regressor.registered.rows)})
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert all(isinstance(p, float) for p in predictions) and predictions == served_regressor.registered.expected.tolist()


def test_probabilities_from_a_regressor_are_a_400_saying_so(served_regressor: Served) -> None:
    answer = post(served_regressor, {"params": PROBA, "dataframe_records": records(served_regressor.registered.rows)})
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "params.predict_method: this model has no predict_proba (it is not a classifier with probabilities, e.g. a regressor); use predict"
    )
