"""MLflow scoring formats to DataFrames, without a server."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from model_loader import ModelUriError, parse_model_uri
from scoring import ScoringInputError, parse_scoring_request, to_jsonable

SCHEMA = {"a": np.dtype("float64"), "b": np.dtype("float64")}
EXPECTED = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.5]})


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4.5]]}},
        {"dataframe_split": {"data": [[1, 2], [3, 4.5]]}},
        {"dataframe_records": [{"a": 1, "b": 2}, {"a": 3, "b": 4.5}]},
        {"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4.5}]},
        {"instances": [[1, 2], [3, 4.5]]},
        {"inputs": {"a": [1, 3], "b": [2, 4.5]}},
        {"inputs": [[1, 2], [3, 4.5]], "params": {}},
    ],
)
def test_every_format_gives_the_same_frame(payload: dict[str, Any]) -> None:
    frame = parse_scoring_request(payload, SCHEMA)
    pd.testing.assert_frame_equal(frame[["a", "b"]], EXPECTED)  # ints became the signature's floats


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "expected a JSON object with exactly one of dataframe_split"),
        ({"rows": [[1, 2]]}, "unknown keys: rows"),
        ({"instances": [[1, 2]], "inputs": [[1, 2]]}, "got instances, inputs"),
        ({"instances": [[1, 2, 3]]}, "instances: expected 2 values per row (a, b), got [3]"),
        ({"instances": []}, "instances: expected at least one row"),
        ({"instances": "a,b"}, "instances: expected a list of rows or an object of columns"),
        ({"dataframe_split": [[1, 2]]}, 'dataframe_split: expected {"columns"'),
        ({"dataframe_records": [[1, 2]]}, "dataframe_records: expected a list of objects"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "inputs: All arrays must be of the same length"),
    ],
)
def test_bad_bodies_say_what_was_expected(payload: Any, message: str) -> None:
    with pytest.raises(ScoringInputError) as err:
        parse_scoring_request(payload, SCHEMA)
    assert message in str(err.value)


def test_list_rows_need_column_names() -> None:
    with pytest.raises(ScoringInputError, match="need a model signature with column names"):
        parse_scoring_request({"instances": [[1, 2]]}, None)


def test_predictions_become_plain_json() -> None:
    assert to_jsonable(np.array([1, 0], dtype=np.int64)) == [1, 0]
    assert type(to_jsonable(np.array([1]))[0]) is int
    assert to_jsonable(pd.DataFrame({"p": [0.25]})) == [{"p": 0.25}]


def test_model_uri_forms() -> None:
    ref = parse_model_uri("models:/churn@champion")
    assert (ref.name, ref.alias, ref.version, ref.uri) == ("churn", "champion", None, "models:/churn@champion")
    assert parse_model_uri("models:/churn/3").version == "3"
    for bad in ("", "runs:/abc/model", "models:/churn", "models:/a@b@c"):
        with pytest.raises(ModelUriError, match="expected models:/<name>@<alias>"):
            parse_model_uri(bad)
