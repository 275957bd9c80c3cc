"""Training data: synthesised deterministically, or read from a CSV/Parquet file or an s3:// object;
then checked for the spec and task (declared features: features.py; the target: numbers for a
regressor, at least two class labels for a classifier) and split into train and test."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from features import Problem, column_problems, numeric_problem, typed_features
from sklearn.datasets import make_classification
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from spec import DatasetSpec, GenerateSpec


class DatasetError(Exception):
    """The dataset cannot be read or used; the message names the source, `problems` the spec keys."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [("dataset.source", message)]


@dataclass(frozen=True)
class DataSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    #: The train rows' groups (dataset.groupColumn), which the CV folds keep together; None without.
    groups_train: pd.Series | None = None


def feature_names(count: int) -> list[str]:
    return [f"feature_{i}" for i in range(count)]


def synthesize(gen: GenerateSpec, target: str = "target") -> pd.DataFrame:
    """The same settings always give the same frame: `feature_0..n-1` plus the integer class column."""
    if gen.informative > gen.features:
        raise DatasetError(f"generated dataset: informative={gen.informative} exceeds features={gen.features}")
    if gen.classes > 2**gen.informative:
        raise DatasetError(f"generated dataset: {gen.classes} classes need informative >= {(gen.classes - 1).bit_length()}")
    if gen.weights is not None and len(gen.weights) != gen.classes:
        raise DatasetError(f"generated dataset: expected {gen.classes} weights (one per class), got {len(gen.weights)}")
    # make_classification's defaults (2 redundant features, 2 clusters per class) do not fit small
    # shapes; shrink them so every shape the config schema accepts can be generated.
    clusters = 2 if gen.classes * 2 <= 2**gen.informative else 1
    weights = [w / sum(gen.weights) for w in gen.weights] if gen.weights else None
    x, y = make_classification(
        n_samples=gen.rows,
        n_features=gen.features,
        n_informative=gen.informative,
        n_redundant=min(2, gen.features - gen.informative),
        n_repeated=0,
        n_classes=gen.classes,
        n_clusters_per_class=clusters,
        weights=weights,
        random_state=gen.seed,
    )
    frame = pd.DataFrame(x, columns=feature_names(gen.features))
    frame[target] = y
    return frame


def _read_table(data: bytes | str, name: str, source: str) -> pd.DataFrame:
    suffix = PurePosixPath(name).suffix.lower()
    handle = io.BytesIO(data) if isinstance(data, bytes) else data
    if suffix == ".csv":
        return pd.read_csv(handle)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(handle)
    raise DatasetError(f"dataset {source}: expected a .csv or .parquet file")


@dataclass(frozen=True)
class Fingerprint:
    """What identifies the bytes a worker trained on; the study run records the first worker's."""

    sha256: str
    size: int
    #: An S3 object's ETag (what a HEAD request reports), None for a local file.
    etag: str | None = None

    def describe(self) -> str:
        return f"sha256 {self.sha256[:12]}, {self.size} bytes" + (f", ETag {self.etag}" if self.etag else "")


def _read_s3(source: str) -> tuple[bytes, str | None]:
    import boto3  # only S3 sources pay for the import
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = source[len("s3://") :].partition("/")
    if not bucket or not key:
        raise DatasetError(f"dataset {source}: expected s3://bucket/key")
    # boto3 reads AWS_ENDPOINT_URL(_S3) itself; MLFLOW_S3_ENDPOINT_URL is what MLflow deployments set.
    endpoint = next(
        (os.environ[k] for k in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL") if os.environ.get(k)), None
    )
    try:
        answer = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)
        return answer["Body"].read(), str(answer.get("ETag", "")).strip('"') or None
    except (BotoCoreError, ClientError) as err:
        raise DatasetError(f"dataset {source}: cannot read from S3{f' at {endpoint}' if endpoint else ''}: {err}") from None


def load_frame(spec: DatasetSpec) -> pd.DataFrame:
    return load_frame_and_fingerprint(spec)[0]


def _read_mlflow_artifact(source: str) -> bytes:
    """A local file the driver uploaded for docker and kubernetes workers (driver/datasetUpload.ts), read
    through the tracking server's artifact proxy with the worker's own MLflow credentials."""
    import tempfile

    from mlflow.artifacts import download_artifacts  # only uploaded sources pay for the import

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = download_artifacts(artifact_uri=source, dst_path=folder)
        except Exception as err:  # MLflow raises its own and requests' errors
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DatasetError(f"dataset {source}: cannot download it from the tracking server: {reason[:200]}") from None
        with open(local, "rb") as handle:
            return handle.read()


def load_frame_and_fingerprint(spec: DatasetSpec) -> tuple[pd.DataFrame, Fingerprint | None]:
    """The frame, and the fingerprint of the bytes it was parsed from (None for generated data)."""
    source = spec.source
    if source == "generated":
        return synthesize(spec.generate, spec.target), None
    try:
        etag = None
        if source.startswith("s3://"):
            data, etag = _read_s3(source)
        elif source.startswith("mlflow-artifacts:/"):
            data = _read_mlflow_artifact(source)
        elif not os.path.isfile(source):
            raise DatasetError(f"dataset {source}: no such file")
        else:
            with open(source, "rb") as handle:
                data = handle.read()
        return _read_table(data, source, source), Fingerprint(hashlib.sha256(data).hexdigest(), len(data), etag)
    except DatasetError:
        raise
    except Exception as err:  # pandas/pyarrow raise many types for a malformed file
        raise DatasetError(f"dataset {source}: cannot parse: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def _target_problems(target: pd.Series, task: str) -> list[Problem]:
    name = f"target column {str(target.name)!r}"
    if target.isna().any():
        return [("dataset.target", f"{name} has missing values (row {int(np.flatnonzero(target.isna().to_numpy())[0]) + 1})")]
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    if task == "regression":
        if not numeric:
            return [("dataset.target", f"{name} is not numeric (e.g. {str(target.iloc[0])[:40]!r}): a regressor needs numbers")]
        return []
    if pd.api.types.is_float_dtype(target):
        fractional = target[target != np.round(target)]
        if len(fractional):
            return [
                (
                    "dataset.target",
                    f"{name} holds non-integer numbers (e.g. {float(fractional.iloc[0]):g}) but the task is classification: "
                    "expected class labels (for a numeric target use a regressor, task: regression)",
                )
            ]
    classes = target.unique()
    if len(classes) < 2:
        return [("dataset.target", f"{name} has one class ({str(classes[0])[:40]!r}): classification needs at least two")]
    return []


@dataclass(frozen=True)
class Columns:
    """The frame taken apart: the model's input, the target, the groups (or None), and each column's role."""

    features: pd.DataFrame
    target: pd.Series
    groups: pd.Series | None
    kinds: dict[str, str]


def _feature_frame(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame | None, dict[str, str], list[Problem]]:
    reserved = tuple(c for c in (spec.target, spec.group_column) if c is not None)
    declared = spec.features
    if declared is None:
        features = frame.drop(columns=[c for c in reserved if c in frame.columns])
        non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
        if non_numeric:
            message = (
                f"expected numeric feature columns, got non-numeric: {', '.join(non_numeric[:5])} (declare them under dataset.features)"
            )
            return None, {}, [("dataset.features", message)]
        if features.shape[1] == 0:
            return None, {}, [("dataset", f"expected at least one feature column besides '{spec.target}'")]
        return features, {str(c): "numeric" for c in features.columns}, []
    problems = column_problems(frame, declared, reserved)
    if problems:
        return None, {}, problems
    problems = [("dataset.features.numeric", p) for p in (numeric_problem(frame[c]) for c in declared.numeric) if p is not None]
    if problems:
        return None, {}, problems
    kinds = {
        **{c: "numeric" for c in declared.numeric},
        **{c: "categorical" for c in declared.categorical},
        **{c: "drop" for c in declared.drop},
    }
    return typed_features(frame, declared), kinds, []


def take_columns(frame: pd.DataFrame, spec: DatasetSpec, task: str) -> tuple[Columns | None, list[Problem]]:
    """Every problem of the frame for this spec and task (each with its spec key), or its columns."""
    problems: list[Problem] = []
    present = {str(c) for c in frame.columns}
    if spec.target not in present:
        columns = ", ".join(map(str, frame.columns[:10]))
        problems.append(("dataset.target", f"target column '{spec.target}' is missing (columns: {columns})"))
    if spec.group_column is not None:
        if spec.group_column not in present:
            problems.append(("dataset.groupColumn", f"group column '{spec.group_column}' is missing"))
        elif frame[spec.group_column].isna().any():
            problems.append(("dataset.groupColumn", f"group column '{spec.group_column}' has missing values"))
    features, kinds, feature_problems = _feature_frame(frame, spec)
    problems.extend(feature_problems)
    if spec.target in present:
        problems.extend(_target_problems(frame[spec.target], task))
    if problems or features is None:
        return None, problems
    groups = frame[spec.group_column] if spec.group_column is not None else None
    kinds = {**kinds, spec.target: "target", **({spec.group_column: "group"} if spec.group_column else {})}
    return Columns(features, frame[spec.target], groups, kinds), []


def split_columns(columns: Columns, test_size: float, seed: int, task: str, folds: int | None = None) -> DataSplit:
    """Train/test split: stratified for classification; by group (GroupShuffleSplit) with a group column,
    so no group is on both sides. Raises DatasetError (no source named: the caller adds it)."""
    x, y, groups = columns.features, columns.target, columns.groups
    if groups is not None:
        train_rows, test_rows = next(GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed).split(x, y, groups))
        split = DataSplit(x.iloc[train_rows], x.iloc[test_rows], y.iloc[train_rows], y.iloc[test_rows], groups.iloc[train_rows])
        count = split.groups_train.nunique() if split.groups_train is not None else 0
        if folds is not None and count < folds:
            raise DatasetError(f"group column '{groups.name}': {count} groups in the train split, fewer than the {folds} CV folds")
        return split
    stratify = y if task == "classification" else None
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=stratify)
    return DataSplit(x_train, x_test, y_train, y_test)


def split_dataset(
    frame: pd.DataFrame, spec: DatasetSpec, test_size: float, seed: int, task: str = "classification", folds: int | None = None
) -> DataSplit:
    """The checked columns (take_columns), split into train and test; DatasetError names the source."""
    columns, problems = take_columns(frame, spec, task)
    if columns is None:
        raise DatasetError(f"dataset {spec.source}: " + "; ".join(message for _, message in problems), problems)
    try:
        return split_columns(columns, test_size, seed, task, folds)
    except (ValueError, DatasetError) as err:
        raise DatasetError(f"dataset {spec.source}: cannot split into train/test: {err}", [("dataset", str(err))]) from None
