"""The cached auth check in a real basic-auth `mlflow server` (the project's venv): MLflow's permission
checks still refuse what they refused, with the admin flag and run-to-experiment lookups cached."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python" / "testing"))

from mlflow_testing import MlflowServer  # noqa: E402

MODULE_DIR = Path(__file__).resolve().parents[1]
TTL = 2.0


@dataclass
class CachedAuthServer(MlflowServer):
    def environment(self) -> dict[str, str]:
        env = super().environment()
        ini = self.root / "basic_auth.ini"
        ini.write_text(
            ini.read_text().replace(
                "mlflow.server.auth:authenticate_request_basic_auth", "mlops_mlflow_auth:authenticate_request_basic_auth_cached"
            )
        )
        return {**env, "PYTHONPATH": str(MODULE_DIR), "MLOPS_AUTH_CACHE_TTL_SECONDS": str(TTL)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CachedAuthServer]:
    started = CachedAuthServer(tmp_path_factory.mktemp("cached-auth"), admin=("admin", f"admin-{secrets.token_hex(8)}")).start()
    yield started
    started.stop()


def session(auth: tuple[str, str]) -> requests.Session:
    s = requests.Session()
    s.auth = auth
    return s


def test_permissions_hold_with_the_cached_lookups(server: CachedAuthServer) -> None:
    assert server.admin
    api = f"{server.url}/api/2.0/mlflow"
    admin = session(server.admin)
    bob = ("bob", f"bob-{secrets.token_hex(8)}")
    admin.post(f"{api}/users/create", json={"username": bob[0], "password": bob[1]}).raise_for_status()
    mine = admin.post(f"{api}/experiments/create", json={"name": "mine"}).json()["experiment_id"]
    other = admin.post(f"{api}/experiments/create", json={"name": "other"}).json()["experiment_id"]
    admin.post(
        f"{api}/experiments/permissions/create", json={"experiment_id": mine, "username": bob[0], "permission": "EDIT"}
    ).raise_for_status()
    other_run = admin.post(f"{api}/runs/create", json={"experiment_id": other}).json()["run"]["info"]["run_id"]

    user = session(bob)
    my_run = user.post(f"{api}/runs/create", json={"experiment_id": mine}).json()["run"]["info"]["run_id"]
    metric = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    for _ in range(3):  # the second and third answers come from the cached lookups
        assert user.post(f"{api}/runs/log-batch", json={"run_id": my_run, "metrics": [metric]}).status_code == 200
        assert user.post(f"{api}/runs/log-batch", json={"run_id": other_run, "metrics": [metric]}).status_code == 403
        assert user.post(f"{api}/runs/create", json={"experiment_id": other}).status_code == 403
    assert user.post(f"{api}/runs/log-batch", json={"run_id": "0" * 32, "metrics": [metric]}).status_code == 404

    my_model = user.post(f"{api}/logged-models", json={"experiment_id": mine, "name": "m"}).json()["model"]["info"]["model_id"]
    other_model = admin.post(f"{api}/logged-models", json={"experiment_id": other, "name": "m"}).json()["model"]["info"]["model_id"]
    tag = {"tags": [{"key": "k", "value": "v"}]}
    for _ in range(2):
        assert user.get(f"{api}/logged-models/{my_model}").status_code == 200
        assert user.patch(f"{api}/logged-models/{my_model}/tags", json=tag).status_code == 200
        assert user.patch(f"{api}/logged-models/{other_model}/tags", json=tag).status_code == 403

    # A permission change counts at once (never cached); a promotion within the TTL.
    admin.patch(
        f"{api}/experiments/permissions/update", json={"experiment_id": mine, "username": bob[0], "permission": "READ"}
    ).raise_for_status()
    assert user.post(f"{api}/runs/log-batch", json={"run_id": my_run, "metrics": [metric]}).status_code == 403
    admin.patch(f"{api}/users/update-admin", json={"username": bob[0], "is_admin": True}).raise_for_status()
    time.sleep(TTL + 0.5)
    assert user.post(f"{api}/runs/log-batch", json={"run_id": other_run, "metrics": [metric]}).status_code == 200
    assert user.get(f"{api}/users/get", params={"username": bob[0]}).status_code == 200
    assert session((bob[0], "wrong")).get(f"{api}/experiments/get", params={"experiment_id": mine}).status_code == 401
