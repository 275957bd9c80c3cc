"""The input contract and the request batcher, without a server."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from batcher import Batcher, Columns, ModelFailure
from model_loader import ModelUriError, parse_model_uri
from scoring import Contract, ScoringInputError, TooManyRowsError, check_scoring_request, frame_for_pyfunc, to_frame, to_jsonable
from server import parse_json
from settings import Settings, SettingsError

CONTRACT = Contract.from_schema({"a": np.dtype("float64"), "b": np.dtype("float64")}, max_rows=3)
EXPECTED = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, 4.5]})


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4.5]]}},
        {"dataframe_split": {"columns": ["b", "a"], "data": [[2, 1], [4.5, 3]]}},
        {"dataframe_split": {"data": [[1, 2], [3, 4.5]], "index": [0, 1]}},
        {"dataframe_records": [{"a": 1, "b": 2}, {"b": 4.5, "a": 3}]},
        {"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4.5}]},
        {"instances": [[1, 2], [3, 4.5]]},
        {"inputs": {"a": [1, 3], "b": [2, 4.5]}},
        {"inputs": [[1, 2], [3, 4.5]], "params": {}},
    ],
)
def test_every_format_gives_the_same_frame_in_signature_order_and_dtypes(payload: dict[str, Any]) -> None:
    frame = to_frame(check_scoring_request(payload, CONTRACT), CONTRACT)
    pd.testing.assert_frame_equal(frame, EXPECTED)  # ints became the signature's floats


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "expected a JSON object with exactly one of dataframe_split"),
        ({"rows": [[1, 2]]}, "unknown input format: rows"),
        ({"instances": [[1, 2]], "inputs": [[1, 2]]}, "got instances, inputs"),
        ({"instances": [[1, 2, 3]]}, "instances[0]: expected 2 values (a, b), got 3"),
        ({"instances": []}, "instances: expected at least one row"),
        ({"instances": "a,b"}, "instances: expected a list of rows or an object of columns, got a string"),
        ({"dataframe_split": [[1, 2]]}, 'dataframe_split: expected {"columns"'),
        ({"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}, "duplicate columns: a"),
        ({"dataframe_split": {"data": [[1, 2]], "rows": 1}}, "dataframe_split: unknown keys: rows"),
        ({"dataframe_records": [[1, 2]]}, "dataframe_records[0]: expected an object of column values, got a list"),
        ({"dataframe_records": [{"a": 1}]}, "dataframe_records[0]: missing columns: b"),
        ({"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}, "unknown columns (the model does not take them): c"),
        ({"inputs": {"a": [1, 2], "b": [1]}}, "every column needs the same number of values, got [1, 2]"),
        ({"inputs": {"a": 1, "b": [1]}}, "inputs.a: expected a list of values (one per row), got an integer"),
        ({"instances": [[True, 1]]}, "instances[0].a: expected a number, got a boolean (true)"),
        ({"instances": [[1, "2"]]}, "instances[0].b: expected a number, got a string ('2')"),
        ({"instances": [[1, None]]}, "instances[0].b: null (a missing value) is not accepted"),
        ({"instances": [[1, math.nan]]}, "instances[0].b: NaN is not accepted by this model"),
        ({"instances": [[math.inf, 1]]}, "instances[0].a: infinity is not accepted"),
        ({"instances": [[2**53 + 1, 1]]}, "instances[0].a: integer 9007199254740993 is too large to be a float64 exactly"),
        ({"instances": [[10**300, 1]]}, "integer of 301 digits is too large"),
    ],
)
def test_bad_bodies_say_what_was_wrong_and_where(payload: Any, message: str) -> None:
    with pytest.raises(ScoringInputError) as err:
        check_scoring_request(payload, CONTRACT)
    assert message in str(err.value)


def test_too_many_rows_is_its_own_error() -> None:
    with pytest.raises(TooManyRowsError, match=r"4 rows is more than this server accepts in one request \(3\)"):
        check_scoring_request({"instances": [[1, 2]] * 4}, CONTRACT)


def test_a_model_that_takes_nan_gets_nan_but_never_infinity() -> None:
    lenient = Contract.from_schema({"a": np.dtype("float64")}, allow_nan=True)
    columns = check_scoring_request({"instances": [[None], [math.nan]]}, lenient)
    assert all(math.isnan(v) for v in columns[0])
    with pytest.raises(ScoringInputError, match="infinity is not accepted"):
        check_scoring_request({"instances": [[-math.inf]]}, lenient)


def test_integer_boolean_and_string_columns() -> None:
    contract = Contract.from_schema({"n": np.dtype("int32"), "flag": np.dtype("bool"), "name": np.dtype("O")})
    frame = to_frame(check_scoring_request({"instances": [[3, True, "x"]]}, contract), contract)
    assert list(frame.dtypes) == [np.dtype("int32"), np.dtype("bool"), np.dtype("O")] and frame.iloc[0].tolist() == [3, True, "x"]
    for row, message in [
        ([1.5, True, "x"], "n: expected an integer, got a number (1.5)"),
        ([2**31, True, "x"], "out of range for int32"),
        ([1, 1, "x"], "flag: expected true or false"),
        ([1, True, 2], "name: expected a string, got an integer"),
    ]:
        with pytest.raises(ScoringInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_scoring_request({"instances": [row]}, contract)
    assert Contract.from_schema({"when": np.dtype("datetime64[ns]")}).supported is False


def test_json_parsing_keeps_huge_integers_and_reads_nan() -> None:
    assert parse_json(b'{"a": 123456789012345678901234567890}') == {"a": 123456789012345678901234567890}
    assert math.isnan(parse_json(b'{"a": NaN}')["a"]) and parse_json(b'{"a": 0.12345678901234567890123}') == {"a": 0.12345678901234568}
    for body, message in [
        (b"", "empty body"),
        (b"[" * 100_000, "nests too deep"),
        (b"{", "expected a JSON body"),
        (b'"\xff"', "expected a JSON body"),
    ]:
        with pytest.raises(ScoringInputError, match=message):
            parse_json(body)


def test_pyfunc_fallback_frames_and_limits() -> None:
    frame = frame_for_pyfunc({"instances": [[1, 2]]}, ["a", "b"], 5)
    assert list(frame.columns) == ["a", "b"]
    with pytest.raises(TooManyRowsError):
        frame_for_pyfunc({"dataframe_records": [{"a": 1}] * 6}, None, 5)


def test_predictions_become_plain_json() -> None:
    assert to_jsonable(np.array([1, 0], dtype=np.int64)) == [1, 0]
    assert type(to_jsonable(np.array([1]))[0]) is int
    assert to_jsonable(pd.DataFrame({"p": [0.25]})) == [{"p": 0.25}]


def _run_batcher(
    predict: Any, requests: list[Columns], methods: list[str] | None = None, calls_by_method: list[tuple[str, int]] | None = None
) -> tuple[list[Any], list[int]]:
    calls: list[int] = []

    def counting(columns: Columns, method: str) -> list[Any]:
        calls.append(len(columns[0]))
        if calls_by_method is not None:
            calls_by_method.append((method, len(columns[0])))
            return predict(columns, method)
        return predict(columns)

    async def go() -> list[Any]:
        batcher = Batcher(counting, ThreadPoolExecutor(1), max_rows=8)
        chosen = methods or ["predict"] * len(requests)
        return await asyncio.gather(*(batcher.submit(r, m) for r, m in zip(requests, chosen)), return_exceptions=True)

    return asyncio.run(go()), calls


def test_batcher_coalesces_concurrent_requests_and_splits_the_answers() -> None:
    requests = [[[float(i)], [float(-i)]] for i in range(12)]
    results, calls = _run_batcher(lambda cols: [a + b + a for a, b in zip(*cols)], requests)
    assert results == [[float(i)] for i in range(12)]
    assert len(calls) < 12 and max(calls) <= 8 and sum(calls) == 12


def test_batcher_retries_a_failed_batch_one_request_at_a_time() -> None:
    def predict(columns: Columns) -> list[Any]:
        if any(v < 0 for v in columns[0]):
            raise ValueError("negative input")
        return list(columns[0])

    results, _ = _run_batcher(predict, [[[1.0]], [[-1.0]], [[2.0]]])
    assert results[0] == [1.0] and results[2] == [2.0]
    assert isinstance(results[1], ModelFailure) and "the model failed to predict: ValueError: negative input" in str(results[1])


def test_model_uri_forms() -> None:
    ref = parse_model_uri("models:/churn@champion")
    assert (ref.name, ref.alias, ref.version, ref.uri) == ("churn", "champion", None, "models:/churn@champion")
    assert parse_model_uri("models:/churn/3").version == "3"
    for bad in ("", "runs:/abc/model", "models:/churn", "models:/a@b@c"):
        with pytest.raises(ModelUriError, match="expected models:/<name>@<alias>"):
            parse_model_uri(bad)


def test_settings_read_the_key_from_a_0600_file_and_never_show_it(tmp_path: Any) -> None:
    key_file = tmp_path / "key"
    key_file.touch(mode=0o600)
    key_file.write_text("abc123\n")
    base = {"MODEL_URI": "models:/m@champion", "MLFLOW_TRACKING_URI": "http://x"}
    settings, _ = Settings.from_env({**base, "SERVING_API_KEY_FILE": str(key_file), "SERVING_BATCH_WAIT_MS": "2"})
    assert settings.api_key == "abc123" and settings.batch_wait_seconds == 0.002 and "abc123" not in repr(settings)
    assert Settings.from_env({**base, "SERVING_API_KEY": "v"})[0].api_key == "v"
    assert Settings.from_env(base)[0].api_key is None
    with pytest.raises(SettingsError, match="SERVING_API_KEY_FILE=/nope: cannot read it"):
        Settings.from_env({**base, "SERVING_API_KEY_FILE": "/nope"})
