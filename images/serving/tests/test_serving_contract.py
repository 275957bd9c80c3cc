"""The input contract against a real server: every bad input gets a 4xx that names what was wrong, a
failure inside the model is a 500 that says so, and after each one the server still answers a good
request with the model's own predictions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from mlflow_testing import MlflowServer, stop_process_group, wait_for_http
from serving_helpers import COLUMNS, Registered, register_champion, server_env, split_body, start_server

MAX_BODY = 64 * 1024
MAX_ROWS = 50
GOOD_ROW = [1.0, 2.0, 0.75, 3]
JSON = {"Content-Type": "application/json"}


@dataclass
class Served:
    url: str
    model: Registered


@pytest.fixture(scope="module")
def served(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("contract")
    model = register_champion(mlflow_server)
    proc, log, url = start_server(
        tmp, server_env(mlflow_server, model.name, tmp, SERVING_MAX_BODY_BYTES=str(MAX_BODY), SERVING_MAX_ROWS=str(MAX_ROWS))
    )
    try:
        wait_for_http(f"{url}/ping", 120, proc, log)
        yield Served(url, model)
    finally:
        stop_process_group(proc)


def record(**changes: object) -> dict[str, object]:
    return {**dict(zip(COLUMNS, GOOD_ROW)), **changes}


def records(*rows: dict[str, object]) -> bytes:
    return json.dumps({"dataframe_records": list(rows)}).encode()


# (name, body, headers, status, words the error must contain)
BAD_INPUTS: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("malformed JSON", b'{"dataframe_split": {"columns": [', JSON, 400, "expected a JSON body"),
    ("empty body", b"", JSON, 400, "empty body"),
    ("whitespace body", b"  \n", JSON, 400, "empty body"),
    ("invalid UTF-8", b'{"inputs": "\xff\xfe"}', JSON, 400, "expected a JSON body"),
    ("wrong content type", records(record()), {"Content-Type": "text/csv"}, 415, "Content-Type text/csv: expected application/json"),
    ("no content type", records(record()), {}, 415, "expected application/json"),
    ("body over the limit", json.dumps({"instances": [GOOD_ROW] * 4000}).encode(), JSON, 413, f"over the limit of {MAX_BODY} bytes"),
    (
        "too many rows",
        json.dumps({"instances": [GOOD_ROW] * (MAX_ROWS + 1)}).encode(),
        JSON,
        413,
        f"{MAX_ROWS + 1} rows is more than this server accepts in one request ({MAX_ROWS})",
    ),
    ("missing column", records({c: 1.0 for c in COLUMNS[:3]}), JSON, 400, "dataframe_records[0]: missing columns: feature_3"),
    ("extra column", records(record(bogus=1.0, other=2)), JSON, 400, "unknown columns (the model does not take them): bogus, other"),
    (
        "extra column in split",
        json.dumps({"dataframe_split": {"columns": [*COLUMNS, "bogus"], "data": [[*GOOD_ROW, 1]]}}).encode(),
        JSON,
        400,
        "unknown columns (the model does not take them): bogus",
    ),
    (
        "string value",
        records(record(feature_1="high")),
        JSON,
        400,
        "dataframe_records[0].feature_1: expected a number, got a string ('high')",
    ),
    (
        "boolean value",
        records(record(feature_2=True)),
        JSON,
        400,
        "dataframe_records[0].feature_2: expected a number, got a boolean (true)",
    ),
    (
        "NaN",
        b'{"dataframe_records": [{"feature_0": NaN, "feature_1": 1, "feature_2": 1, "feature_3": 1}]}',
        JSON,
        400,
        "dataframe_records[0].feature_0: NaN is not accepted by this model",
    ),
    ("Infinity", b'{"instances": [[1, -Infinity, 1, 1]]}', JSON, 400, "instances[0].feature_1: infinity is not accepted"),
    (
        "null",
        records(record(feature_3=None)),
        JSON,
        400,
        "dataframe_records[0].feature_3: null (a missing value) is not accepted by this model",
    ),
    ("deep nesting", b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, 400, "nests too deep"),
    ("nested value", records(record(feature_0=[1.0])), JSON, 400, "dataframe_records[0].feature_0: expected a number, got a list"),
    (
        "huge integer",
        b'{"instances": [[1, 2, 3, 123456789012345678901234567890]]}',
        JSON,
        400,
        "instances[0].feature_3: integer 123456789012345678901234567890 is too large",
    ),
    ("integer beyond 2**53", json.dumps({"instances": [[1, 2, 3, 2**60]]}).encode(), JSON, 400, "is too large to be a float64 exactly"),
    (
        "list instead of a record",
        json.dumps({"dataframe_records": [GOOD_ROW]}).encode(),
        JSON,
        400,
        "dataframe_records[0]: expected an object of column values, got a list",
    ),
    (
        "record instead of a list of records",
        json.dumps({"dataframe_records": record()}).encode(),
        JSON,
        400,
        "dataframe_records: expected a list of objects (one per row), got an object",
    ),
    (
        "body is a list",
        json.dumps([GOOD_ROW]).encode(),
        JSON,
        400,
        "expected a JSON object with exactly one of dataframe_split, dataframe_records, instances, inputs; got a list",
    ),
    ("unknown input format", json.dumps({"rows": [GOOD_ROW]}).encode(), JSON, 400, "unknown input format: rows"),
    ("two formats", json.dumps({"instances": [GOOD_ROW], "inputs": [GOOD_ROW]}).encode(), JSON, 400, "got instances, inputs"),
    (
        "short row",
        json.dumps({"instances": [[1, 2]]}).encode(),
        JSON,
        400,
        "instances[0]: expected 4 values (feature_0, feature_1, feature_2, feature_3), got 2",
    ),
    ("no rows", json.dumps({"instances": []}).encode(), JSON, 400, "instances: expected at least one row"),
    (
        "ragged columns",
        json.dumps({"inputs": {c: [1.0, 2.0] for c in COLUMNS} | {"feature_0": [1.0]}}).encode(),
        JSON,
        400,
        "every column needs the same number of values",
    ),
]


def assert_still_serving(served: Served) -> None:
    answer = requests.post(f"{served.url}/invocations", json=split_body(served.model.rows), timeout=30)
    assert answer.status_code == 200 and answer.json()["predictions"] == served.model.expected.tolist(), answer.text
    assert requests.get(f"{served.url}/ping", timeout=10).status_code == 200


def test_at_least_15_bad_inputs_are_covered() -> None:
    assert len(BAD_INPUTS) >= 15


@pytest.mark.parametrize(("name", "body", "headers", "status", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gets_a_4xx_naming_the_problem_and_the_server_keeps_serving(
    served: Served, name: str, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    answer = requests.post(f"{served.url}/invocations", data=body, headers=headers, timeout=30)
    assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text}"
    assert answer.headers["Content-Type"] == "application/json" and answer.headers["X-Replica-Id"] == "replica-7"
    error = answer.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error, error
    assert_still_serving(served)


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(served: Served) -> None:
    """No Content-Length (chunked): the limit is enforced while reading, not only from the header."""

    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(4000):  # 84 kB
            yield b"[1.0, 2.0, 3.0, 4.0],"
        yield b"[1.0, 2.0, 3.0, 4.0]]}"

    answer = requests.post(f"{served.url}/invocations", data=chunks(), headers=JSON, timeout=30)
    assert answer.status_code == 413 and "over the limit" in answer.json()["error"]
    assert_still_serving(served)


def test_a_failure_inside_the_model_is_a_500_that_says_so(served: Served) -> None:
    """A negative value passes the contract (it is a number) but the model's log makes it NaN and the
    classifier raises: the client is told the model failed, not that its input was malformed."""
    answer = requests.post(f"{served.url}/invocations", json={"instances": [[-1.0, 1.0, 1.0, 1.0]]}, timeout=30)
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("the model failed to predict: ValueError:")
    assert_still_serving(served)


def test_a_failing_request_coalesced_with_good_ones_fails_alone(served: Served) -> None:
    bad = {"instances": [[-1.0, 1.0, 1.0, 1.0]]}
    good = split_body(served.model.rows)
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda i: requests.post(f"{served.url}/invocations", json=bad if i % 6 == 0 else good, timeout=30), range(48))
        )
    assert [a.status_code for a in answers] == [500 if i % 6 == 0 else 200 for i in range(48)]
    assert all(a.json()["predictions"] == served.model.expected.tolist() for i, a in enumerate(answers) if i % 6)


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/predict", 404)])
def test_wrong_method_or_path(served: Served, method: str, path: str, status: int) -> None:
    answer = requests.request(method, f"{served.url}{path}", timeout=10)
    assert answer.status_code == status and answer.json()["error"]
    assert_still_serving(served)
