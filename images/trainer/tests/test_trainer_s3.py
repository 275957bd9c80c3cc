"""Reading the dataset from a real S3 server (SeaweedFS, started by scripts/services/seaweedfs.sh)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset import DatasetError, load_frame, load_frame_and_fingerprint, synthesize
from mlflow_testing import REPO_ROOT
from skips import skip_or_fail_in_ci
from spec import DatasetSpec, GenerateSpec

SEAWEEDFS = REPO_ROOT / "scripts" / "services" / "seaweedfs.sh"
GEN = GenerateSpec(rows=120, features=4, informative=2, classes=2, weights=None, seed=5)


def _exports(env: dict[str, str]) -> dict[str, str]:
    lines = subprocess.run(["bash", str(SEAWEEDFS), "env"], env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    pairs = (line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
    return {key: value.strip("'\"") for key, value in pairs}


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The SeaweedFS the other tests run, if it is up; else its own in a temp state folder.
    Skipped, saying why, when neither is possible on this machine (a failure in CI)."""
    if not SEAWEEDFS.exists():
        skip_or_fail_in_ci("S3 dataset tests", f"{SEAWEEDFS} is missing")
    shared = dict(os.environ)
    if subprocess.run(["bash", str(SEAWEEDFS), "status"], env=shared, capture_output=True).returncode == 0:
        yield _exports(shared)
        return
    own = {**os.environ, "MLOPS_SERVICES_DIR": str(tmp_path_factory.mktemp("services"))}
    started = subprocess.run(["bash", str(SEAWEEDFS), "start"], env=own, capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        skip_or_fail_in_ci("S3 dataset tests", f"seaweedfs.sh start failed: {started.stderr.strip().splitlines()[-1:]}")
    try:
        yield _exports(own)
    finally:
        subprocess.run(["bash", str(SEAWEEDFS), "stop"], env=own, capture_output=True, timeout=120)


def test_reads_parquet_and_csv_objects(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import boto3

    for key, value in s3_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")  # the trainer must also find MLflow's variable
    frame = synthesize(GEN, target="label")
    frame.to_parquet(tmp_path / "train.parquet")
    frame.to_csv(tmp_path / "train.csv", index=False)
    s3 = boto3.client("s3", endpoint_url=s3_env["MLFLOW_S3_ENDPOINT_URL"])
    for name in ("train.parquet", "train.csv"):
        s3.upload_file(str(tmp_path / name), "mlflow", f"datasets/{name}")
        loaded = load_frame(DatasetSpec(f"s3://mlflow/datasets/{name}", "label", GEN))
        assert loaded.shape == frame.shape and loaded["label"].tolist() == frame["label"].tolist()
        head = s3.head_object(Bucket="mlflow", Key=f"datasets/{name}")
        _, seen = load_frame_and_fingerprint(DatasetSpec(f"s3://mlflow/datasets/{name}", "label", GEN))
        assert seen is not None and (seen.etag, seen.size) == (head["ETag"].strip('"'), head["ContentLength"])
    with pytest.raises(DatasetError, match=r"dataset s3://mlflow/datasets/absent.parquet: cannot read from S3 at http://127\.0\.0\.1:\d+"):
        load_frame(DatasetSpec("s3://mlflow/datasets/absent.parquet", "label", GEN))
