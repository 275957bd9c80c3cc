"""MLflow's JSON scoring formats turned into a DataFrame, and predictions turned back into JSON.

Accepted bodies (one key each, plus an optional `params` that is ignored):
  {"dataframe_split": {"columns": [...], "data": [[...], ...]}}
  {"dataframe_records": [{"col": value, ...}, ...]}
  {"instances": [...]} or {"inputs": [...]}: rows as objects, or as lists in the model's column order,
  or one object of columns ({"col": [values]}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_EXPECTED = "expected a JSON object with exactly one of " + ", ".join(FORMATS)


class ScoringInputError(ValueError):
    """The request body does not describe rows the model can score; answered with HTTP 400."""


def _rows_frame(rows: list[Any], columns: Sequence[str] | None, key: str) -> pd.DataFrame:
    if all(isinstance(row, dict) for row in rows):
        return pd.DataFrame.from_records(rows)
    if all(isinstance(row, list) for row in rows):
        if not columns:
            raise ScoringInputError(f"{key}: rows given as lists need a model signature with column names; send objects instead")
        widths = {len(row) for row in rows}
        if widths != {len(columns)}:
            raise ScoringInputError(f"{key}: expected {len(columns)} values per row ({', '.join(columns)}), got {sorted(widths)}")
        return pd.DataFrame(rows, columns=list(columns))
    raise ScoringInputError(f"{key}: expected a list of rows, each an object or a list of values")


def _split_frame(value: Any, columns: Sequence[str] | None) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ScoringInputError('dataframe_split: expected {"columns": [...], "data": [[...], ...]}')
    given = value.get("columns")
    if given is not None and not (isinstance(given, list) and all(isinstance(c, str) for c in given)):
        raise ScoringInputError("dataframe_split.columns: expected a list of column names")
    return _rows_frame(value["data"], given or columns, "dataframe_split.data")


def parse_scoring_request(payload: Any, schema: Mapping[str, np.dtype] | None) -> pd.DataFrame:
    """`schema` maps the model signature's input names to dtypes: names order rows given as plain
    lists, and JSON integers in float columns become floats (pyfunc refuses int64 -> float64)."""
    columns = list(schema) if schema else None
    if not isinstance(payload, dict):
        raise ScoringInputError(_EXPECTED)
    keys = [k for k in FORMATS if k in payload]
    unknown = sorted(set(payload) - set(FORMATS) - {"params"})
    if len(keys) != 1 or unknown:
        raise ScoringInputError(_EXPECTED + (f"; unknown keys: {', '.join(unknown)}" if unknown else f"; got {', '.join(keys) or 'none'}"))
    key, value = keys[0], payload[keys[0]]
    try:
        if key == "dataframe_split":
            frame = _split_frame(value, columns)
        elif key == "dataframe_records":
            if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
                raise ScoringInputError("dataframe_records: expected a list of objects (one per row)")
            frame = pd.DataFrame.from_records(value)
        elif isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
            frame = pd.DataFrame(value)  # columnar: {"col": [values]}
        elif isinstance(value, list):
            frame = _rows_frame(value, columns, key)
        else:
            raise ScoringInputError(f"{key}: expected a list of rows or an object of columns")
    except ValueError as err:  # pandas: ragged columns, mismatched shapes
        if isinstance(err, ScoringInputError):
            raise
        raise ScoringInputError(f"{key}: {err}") from None
    if frame.empty:
        raise ScoringInputError(f"{key}: expected at least one row")
    for name, dtype in (schema or {}).items():
        if name in frame.columns and dtype.kind == "f" and frame[name].dtype.kind in "iub":
            frame[name] = frame[name].astype(dtype)
    return frame


def to_jsonable(predictions: Any) -> list[Any]:
    """Predictions as plain JSON values (numpy scalars are not JSON-serialisable)."""
    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, (pd.Series, np.ndarray)):
        return np.asarray(predictions).tolist()
    return list(predictions)
