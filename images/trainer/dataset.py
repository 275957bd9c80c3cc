"""Training data: synthesised deterministically, or read from a CSV/Parquet file or an s3:// object."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from spec import DatasetSpec, GenerateSpec


class DatasetError(Exception):
    """The dataset cannot be read or used; the message names the source."""


@dataclass(frozen=True)
class DataSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


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


def load_frame_and_fingerprint(spec: DatasetSpec) -> tuple[pd.DataFrame, Fingerprint | None]:
    """The frame, and the fingerprint of the bytes it was parsed from (None for generated data)."""
    source = spec.source
    if source == "generated":
        return synthesize(spec.generate, spec.target), None
    try:
        etag = None
        if source.startswith("s3://"):
            data, etag = _read_s3(source)
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


def split_dataset(frame: pd.DataFrame, spec: DatasetSpec, test_size: float, seed: int) -> DataSplit:
    """Stratified train/test split; every feature must be numeric because the estimators take no encoders."""
    if spec.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:10]))
        raise DatasetError(f"dataset {spec.source}: target column '{spec.target}' is missing (columns: {columns})")
    features = frame.drop(columns=[spec.target])
    non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise DatasetError(f"dataset {spec.source}: expected numeric feature columns, got non-numeric: {', '.join(non_numeric[:5])}")
    if features.shape[1] == 0:
        raise DatasetError(f"dataset {spec.source}: expected at least one feature column besides '{spec.target}'")
    target = frame[spec.target]
    if target.isna().any():
        raise DatasetError(f"dataset {spec.source}: target column '{spec.target}' has missing values")
    try:
        x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=test_size, random_state=seed, stratify=target)
    except ValueError as err:
        raise DatasetError(f"dataset {spec.source}: cannot split into train/test: {err}") from None
    return DataSplit(x_train, x_test, y_train, y_test)
