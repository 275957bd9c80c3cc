"""The input contract: MLflow's JSON scoring formats checked against the model signature, value by
value, and turned into columns the model can score; predictions turned back into JSON.

Accepted bodies (one key each, plus an optional `params`, see PARAMS):
  {"dataframe_split": {"columns": [...], "data": [[...], ...]}}   (columns optional: signature order)
  {"dataframe_records": [{"col": value, ...}, ...]}
  {"instances": [...]} or {"inputs": [...]}: rows as objects, or as lists in the signature's column
  order, or one object of columns ({"col": [values]}).

Every row must have exactly the signature's columns (missing and extra ones are refused by name);
every value must have the column's type: numbers for float columns (integers beyond 2**53 are
refused, they would silently lose digits), integers within range for integer columns, true/false
only for boolean columns, strings only for string columns. null, NaN and Infinity are refused in
numeric and string columns unless the model accepts missing values there (then null and NaN pass,
as NaN, which is what pandas reads from an empty CSV cell; Infinity never does). Errors name the row
and column.

`params` is MLflow's per-request parameters object. The one parameter read is `predict_method`
("predict", the default, or "predict_proba"); any other key or value is refused by name, so a
misspelt parameter is never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
#: The `params` a request may send, and the values each may take (the first is the default).
PARAMS: dict[str, tuple[str, ...]] = {"predict_method": ("predict", "predict_proba")}
_EXPECTED = "expected a JSON object with exactly one of " + ", ".join(FORMATS)
_EXACT_FLOAT_INT = 2**53
_JSON_TYPE = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


class ScoringInputError(ValueError):
    """The request body does not describe rows the model can score; answered with HTTP 400."""


class TooManyRowsError(ScoringInputError):
    """More rows than the server accepts in one request; answered with HTTP 413."""


def _json_type(value: Any) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Contract:
    """What one row must look like: the signature's columns, in order, with their numpy dtypes."""

    columns: tuple[str, ...]
    dtypes: tuple[np.dtype, ...]
    #: Per column: the model accepts missing values (null/NaN) there.
    missing_ok: tuple[bool, ...]
    max_rows: int = 10_000

    @classmethod
    def from_schema(
        cls, schema: Mapping[str, np.dtype], allow_nan: bool = False, max_rows: int = 10_000, missing_columns: Collection[str] = ()
    ) -> Contract:
        """`allow_nan`: the whole model takes missing values; `missing_columns`: these columns do (e.g.
        the signature marks them optional because the training data had missing values there)."""
        missing_ok = tuple(allow_nan or name in missing_columns for name in schema)
        return cls(tuple(schema), tuple(np.dtype(d) for d in schema.values()), missing_ok, max_rows)

    @property
    def supported(self) -> bool:
        """Only these kinds are checked value by value; other signatures fall back to MLflow's own checks."""
        return all(d.kind in "fiub" or d == np.dtype(object) or d.kind == "U" for d in self.dtypes)


class _Bad(ValueError):
    """A value the column cannot take; the caller adds where it was."""


def _check_value(value: Any, dtype: np.dtype, allow_nan: bool) -> Any:
    kind, kind_of = dtype.kind, type(value)
    if kind == "f":
        if kind_of is float:
            if math.isfinite(value) or (allow_nan and math.isnan(value)):
                return value
            if math.isnan(value):
                raise _Bad("NaN is not accepted by this model; send a number")
            raise _Bad("infinity is not accepted; send a finite number")
        if kind_of is int:
            if -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT:
                return float(value)
            raise _Bad(f"integer {_short(value)} is too large to be a {dtype.name} exactly (at most 2**53)")
        if value is None:
            if allow_nan:
                return math.nan
            raise _Bad("null (a missing value) is not accepted by this model; send a number")
    elif kind in "iu":
        if kind_of is int:
            info = np.iinfo(dtype)
            if info.min <= value <= info.max:
                return value
            raise _Bad(f"integer {_short(value)} is out of range for {dtype.name} ({info.min}..{info.max})")
    elif kind == "b":
        if kind_of is bool:
            return value
    elif kind_of is str:  # string columns
        return value
    elif value is None or (kind_of is float and math.isnan(value)):
        if allow_nan:
            return math.nan  # what pandas reads from an empty CSV cell, so imputers see what training saw
        raise _Bad("null (a missing value) is not accepted by this model; send a string")
    expected = {"f": "a number", "i": "an integer", "u": "an integer", "b": "true or false"}.get(kind, "a string")
    raise _Bad(f"expected {expected}, got {_json_type(value)}{_shown(value)}")


def _checked(values: list[Any], dtype: np.dtype, allow_nan: bool, where: Callable[[int], str]) -> list[Any]:
    """One column's values, checked; finite floats in a float column (the common case) pass inline."""
    out: list[Any] = []
    append, floats = out.append, dtype.kind == "f"
    try:
        for value in values:
            if floats and type(value) is float and value - value == 0.0:
                append(value)
            else:
                append(_check_value(value, dtype, allow_nan))
    except _Bad as err:
        raise ScoringInputError(f"{where(len(out))}: {err}") from None
    return out


def _short(value: int) -> str:
    return str(value) if value.bit_length() < 200 else f"of {len(str(abs(value)))} digits"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return f" ({str(value).lower()})"
    if isinstance(value, int):
        return f" ({_short(value)})"
    if isinstance(value, (float, str)):
        return f" ({value if isinstance(value, float) else repr(value[:40])})"
    return ""


def _columns_match(given: Sequence[str], contract: Contract, where: str) -> None:
    if len(set(given)) != len(given):
        dupes = sorted({c for c in given if list(given).count(c) > 1})
        raise ScoringInputError(f"{where}: duplicate columns: {', '.join(dupes)}")
    expected = set(contract.columns)
    missing = [c for c in contract.columns if c not in set(given)]
    extra = [c for c in given if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"unknown columns (the model does not take them): {', '.join(extra[:20])}")
    if problems:
        raise ScoringInputError(f"{where}: " + "; ".join(problems))


def _count(rows: Any, contract: Contract, key: str) -> None:
    if len(rows) == 0:
        raise ScoringInputError(f"{key}: expected at least one row")
    if len(rows) > contract.max_rows:
        raise TooManyRowsError(f"{key}: {len(rows)} rows is more than this server accepts in one request ({contract.max_rows})")


def _from_records(rows: list[Any], contract: Contract, key: str) -> list[list[Any]]:
    names, width = contract.columns, len(contract.columns)
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ScoringInputError(f"{key}[{r}]: expected an object of column values, got {_json_type(row)}")
        if len(row) != width or any(name not in row for name in names):
            _columns_match(list(row), contract, f"{key}[{r}]")
    return [
        _checked([row[name] for row in rows], dtype, missing_ok, lambda r, name=name: f"{key}[{r}].{name}")
        for name, dtype, missing_ok in zip(names, contract.dtypes, contract.missing_ok)
    ]


def _from_lists(rows: list[Any], columns: Sequence[str], contract: Contract, key: str) -> list[list[Any]]:
    """Rows as lists of values in the order `columns` (the signature's, unless the body names them)."""
    _columns_match(columns, contract, key)
    width = len(columns)
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise ScoringInputError(f"{key}[{r}]: expected a list of {width} values, got {_json_type(row)}")
        if len(row) != width:
            raise ScoringInputError(f"{key}[{r}]: expected {width} values ({', '.join(columns)}), got {len(row)}")
    out = []
    for name, dtype, missing_ok in zip(contract.columns, contract.dtypes, contract.missing_ok):
        at = columns.index(name)
        out.append(_checked([row[at] for row in rows], dtype, missing_ok, lambda r, name=name: f"{key}[{r}].{name}"))
    return out


def _from_columns(value: dict[str, Any], contract: Contract, key: str) -> list[list[Any]]:
    _columns_match(list(value), contract, key)
    lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
    if -1 in lengths:
        bad = next(name for name, v in value.items() if not isinstance(v, list))
        raise ScoringInputError(f"{key}.{bad}: expected a list of values (one per row), got {_json_type(value[bad])}")
    if len(lengths) != 1:
        raise ScoringInputError(f"{key}: every column needs the same number of values, got {sorted(lengths)}")
    _count(next(iter(value.values())), contract, key)
    return [
        _checked(value[name], dtype, missing_ok, lambda r, name=name: f"{key}.{name}[{r}]")
        for name, dtype, missing_ok in zip(contract.columns, contract.dtypes, contract.missing_ok)
    ]


def _format(payload: Any) -> tuple[str, Any]:
    if not isinstance(payload, dict):
        raise ScoringInputError(f"{_EXPECTED}; got {_json_type(payload)}")
    keys = [k for k in FORMATS if k in payload]
    unknown = sorted(set(payload) - set(FORMATS) - {"params"})
    if unknown:
        raise ScoringInputError(f"unknown input format: {', '.join(unknown)[:200]}; {_EXPECTED}")
    if len(keys) != 1:
        raise ScoringInputError(f"{_EXPECTED}; got {', '.join(keys) or 'none'}")
    return keys[0], payload[keys[0]]


def predict_method(payload: Any) -> str:
    """The method a body asks for in MLflow's `params` ("predict" without one); unknown keys and values
    are refused by name. Call after the body is known to be an object (check_scoring_request or
    frame_for_pyfunc), or on any dict."""
    params = payload.get("params") if isinstance(payload, dict) else None
    if params is None:
        return PARAMS["predict_method"][0]
    if not isinstance(params, dict):
        raise ScoringInputError(f'params: expected an object such as {{"predict_method": "predict_proba"}}, got {_json_type(params)}')
    unknown = sorted(str(k) for k in params if k not in PARAMS)
    if unknown:
        raise ScoringInputError(f"params: unknown parameters: {', '.join(unknown)[:200]}; this server accepts: {', '.join(PARAMS)}")
    method = params.get("predict_method", PARAMS["predict_method"][0])
    allowed = PARAMS["predict_method"]
    if method not in allowed:
        shown = repr(method[:40]) if isinstance(method, str) else _json_type(method)
        raise ScoringInputError(f"params.predict_method: {shown} is not one of {', '.join(allowed)}")
    return method


def check_scoring_request(payload: Any, contract: Contract) -> list[list[Any]]:
    """The rows of a parsed body as one list of checked values per signature column."""
    key, value = _format(payload)
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise ScoringInputError('dataframe_split: expected {"columns": [...], "data": [[...], ...]}')
        extra = sorted(set(value) - {"columns", "data", "index"})
        if extra:
            raise ScoringInputError(f"dataframe_split: unknown keys: {', '.join(extra)[:200]}")
        given = value.get("columns")
        if given is not None and not (isinstance(given, list) and all(isinstance(c, str) for c in given)):
            raise ScoringInputError("dataframe_split.columns: expected a list of column names")
        _count(value["data"], contract, "dataframe_split.data")
        return _from_lists(value["data"], given if given is not None else list(contract.columns), contract, "dataframe_split.data")
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise ScoringInputError(f"dataframe_records: expected a list of objects (one per row), got {_json_type(value)}")
        _count(value, contract, key)
        return _from_records(value, contract, key)
    if isinstance(value, dict):
        return _from_columns(value, contract, key)
    if not isinstance(value, list):
        raise ScoringInputError(f"{key}: expected a list of rows or an object of columns, got {_json_type(value)}")
    _count(value, contract, key)
    if isinstance(value[0], dict):
        return _from_records(value, contract, key)
    return _from_lists(value, list(contract.columns), contract, key)


def to_frame(columns: list[list[Any]], contract: Contract) -> pd.DataFrame:
    """The checked columns as the DataFrame pyfunc would hand the model: signature order and dtypes."""
    if len(set(contract.dtypes)) == 1 and contract.dtypes[0].kind in "fiub":  # one block: far cheaper than a dict of columns
        return pd.DataFrame(np.array(columns, dtype=contract.dtypes[0]).T, columns=list(contract.columns))
    # String columns stay Python objects (MLflow's signature says `<U`): a fixed-width unicode array
    # would turn a missing value (NaN) into the string "nan", a category the encoder never saw.
    return pd.DataFrame(
        {
            name: np.asarray(values, dtype=object if dtype.kind in "UO" else dtype)
            for name, dtype, values in zip(contract.columns, contract.dtypes, columns)
        },
        columns=list(contract.columns),
    )


def frame_for_pyfunc(payload: Any, columns: Sequence[str] | None, max_rows: int) -> pd.DataFrame:
    """Models whose signature has types the contract does not check (or no signature at all): a plain
    DataFrame, and MLflow's own schema enforcement in pyfunc.predict decides."""
    key, value = _format(payload)
    try:
        if key == "dataframe_split":
            if not isinstance(value, dict) or not isinstance(value.get("data"), list):
                raise ScoringInputError('dataframe_split: expected {"columns": [...], "data": [[...], ...]}')
            frame = pd.DataFrame(value["data"], columns=value.get("columns") or columns)
        elif key == "dataframe_records" or (isinstance(value, list) and value and isinstance(value[0], dict)):
            if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                raise ScoringInputError(f"{key}: expected a list of objects (one per row)")
            frame = pd.DataFrame.from_records(value)
        elif isinstance(value, dict):
            frame = pd.DataFrame(value)
        elif isinstance(value, list):
            frame = pd.DataFrame(value, columns=columns)
        else:
            raise ScoringInputError(f"{key}: expected a list of rows or an object of columns")
    except (ValueError, TypeError) as err:  # pandas: ragged rows, mismatched shapes
        if isinstance(err, ScoringInputError):
            raise
        raise ScoringInputError(f"{key}: {err}") from None
    if frame.empty:
        raise ScoringInputError(f"{key}: expected at least one row")
    if len(frame) > max_rows:
        raise TooManyRowsError(f"{key}: {len(frame)} rows is more than this server accepts in one request ({max_rows})")
    return frame


def to_jsonable(predictions: Any) -> list[Any]:
    """Predictions as plain JSON values (numpy scalars are not JSON-serialisable)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, (pd.Series, np.ndarray)):
        return np.asarray(predictions).tolist()
    return list(predictions)
