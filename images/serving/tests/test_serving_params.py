"""MLflow's `params` (predict_method), string columns and missing values in the input contract, and
batching that never mixes methods: without a server."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from batcher import Columns
from model_loader import LoadedModel
from scoring import Contract, ScoringInputError, check_scoring_request, predict_method, to_frame
from server import check_method
from test_serving_scoring import _run_batcher

MIXED = {"age": np.dtype("float64"), "city": np.dtype("<U")}  # what MLflow's signature gives for float and string columns


@pytest.mark.parametrize(
    ("payload", "method"),
    [
        ({"instances": [[1.0, "x"]]}, "predict"),
        ({"instances": [[1.0, "x"]], "params": {}}, "predict"),
        ({"instances": [[1.0, "x"]], "params": {"predict_method": "predict"}}, "predict"),
        ({"instances": [[1.0, "x"]], "params": {"predict_method": "predict_proba"}}, "predict_proba"),
    ],
)
def test_params_choose_the_method(payload: dict[str, Any], method: str) -> None:
    assert predict_method(payload) == method


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"predict_methods": "predict_proba"}, "params: unknown parameters: predict_methods; this server accepts: predict_method"),
        ({"predict_method": "decision_function"}, "params.predict_method: 'decision_function' is not one of predict, predict_proba"),
        ({"predict_method": 1}, "params.predict_method: an integer is not one of predict, predict_proba"),
        ([1], 'params: expected an object such as {"predict_method": "predict_proba"}, got a list'),
    ],
)
def test_unknown_params_and_methods_are_refused_by_name(params: Any, message: str) -> None:
    with pytest.raises(ScoringInputError) as err:
        predict_method({"instances": [[1.0, "x"]], "params": params})
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([1.5, 7], "instances[0].city: expected a string, got an integer (7)"),
        ([1.5, 2.5], "instances[0].city: expected a string, got a number (2.5)"),
        (["40", "oslo"], "instances[0].age: expected a number, got a string ('40')"),
        ([1.5, None], "instances[0].city: null (a missing value) is not accepted by this model; send a string"),
        ([None, "oslo"], "instances[0].age: null (a missing value) is not accepted by this model; send a number"),
    ],
)
def test_string_and_float_columns_are_checked_value_by_value(row: list[Any], message: str) -> None:
    contract = Contract.from_schema(MIXED)
    with pytest.raises(ScoringInputError) as err:
        check_scoring_request({"instances": [row]}, contract)
    assert str(err.value) == message


def test_the_error_names_the_row_and_column_of_a_later_row() -> None:
    contract = Contract.from_schema(MIXED)
    with pytest.raises(ScoringInputError, match=r"^dataframe_records\[2\]\.city: expected a string, got a number \(3\.0\)$"):
        check_scoring_request({"dataframe_records": [{"age": 1, "city": "a"}, {"age": 2, "city": "b"}, {"age": 3, "city": 3.0}]}, contract)


def test_missing_values_pass_where_the_model_takes_them_as_nan_also_in_string_columns() -> None:
    """A string column's missing value reaches the model as NaN in an object column (what pandas reads
    from an empty CSV cell and what SimpleImputer treats as missing), never as the string "nan"."""
    contract = Contract.from_schema(MIXED, allow_nan=True)
    frame = to_frame(check_scoring_request({"instances": [[None, None], [math.nan, "oslo"], [2.0, "lima"]]}, contract), contract)
    assert frame["city"].dtype == np.dtype(object) and frame["age"].dtype == np.dtype("float64")
    assert math.isnan(frame["city"][0]) and frame["city"].tolist()[1:] == ["oslo", "lima"]
    assert math.isnan(frame["age"][0]) and math.isnan(frame["age"][1])


def test_missing_values_can_be_allowed_per_column() -> None:
    contract = Contract.from_schema(MIXED, missing_columns={"city"})
    assert contract.missing_ok == (False, True)
    check_scoring_request({"instances": [[1.0, None]]}, contract)
    with pytest.raises(ScoringInputError, match=r"instances\[0\]\.age: null"):
        check_scoring_request({"instances": [[None, "oslo"]]}, contract)


def test_batches_never_mix_methods_and_keep_each_methods_order() -> None:
    calls: list[tuple[str, int]] = []

    def predict(columns: Columns, method: str) -> list[Any]:
        return [[v, 1 - v] if method == "predict_proba" else v for v in columns[0]]

    requests = [[[float(i % 2)]] for i in range(12)]
    methods = ["predict_proba" if i % 3 == 0 else "predict" for i in range(12)]
    results, _ = _run_batcher(predict, requests, methods, calls)
    assert results == [[[float(i % 2), 1 - float(i % 2)]] if i % 3 == 0 else [float(i % 2)] for i in range(12)]
    assert sum(rows for _, rows in calls) == 12 and len(calls) < 12, calls  # coalesced, yet each call one method
    assert sum(rows for method, rows in calls if method == "predict_proba") == 4


@pytest.mark.parametrize(
    ("methods", "checked", "message"),
    [
        ({}, True, "params.predict_method: predict_proba is not available: this model is not a scikit-learn model; use predict"),
        ({"predict": print}, True, "params.predict_method: this model has no predict_proba (it is not a classifier with probabilities"),
        (
            {"predict": print, "predict_proba": print},
            False,
            "params.predict_method: predict_proba is served only for models whose signature the server checks",
        ),
    ],
)
def test_probabilities_are_refused_where_the_model_cannot_give_them(methods: dict[str, Any], checked: bool, message: str) -> None:
    loaded = LoadedModel("m", "champion", "1", None, None, None, None, methods)  # type: ignore[arg-type]
    check_method(loaded, "predict", checked)  # predict is always there
    with pytest.raises(ScoringInputError) as err:
        check_method(loaded, "predict_proba", checked)
    assert str(err.value).startswith(message)
