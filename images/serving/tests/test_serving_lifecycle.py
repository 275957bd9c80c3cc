"""The inference API key, drain on SIGTERM and forked workers, each against a real server process."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests
from mlflow_testing import MlflowServer, client_env, stop_process_group, wait_for_http
from serving_helpers import SERVER, Registered, register_champion, server_env, split_body, start_server, wait_listening


@pytest.fixture(scope="module")
def champion(mlflow_server: MlflowServer) -> Registered:
    return register_champion(mlflow_server)


@dataclass
class Keyed:
    url: str
    log: Path
    key: str
    model: Registered


@pytest.fixture(scope="module")
def keyed(mlflow_server: MlflowServer, champion: Registered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    tmp = tmp_path_factory.mktemp("keyed")
    key = secrets.token_urlsafe(24)
    key_file = tmp / "api-key"
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    proc, log, url = start_server(tmp, server_env(mlflow_server, champion.name, tmp, SERVING_API_KEY_FILE=str(key_file)))
    try:
        wait_for_http(f"{url}/ping", 120, proc, log)
        yield Keyed(url, log, key, champion)
    finally:
        stop_process_group(proc)


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_probes_stay_open_with_a_key(keyed: Keyed, path: str) -> None:
    assert requests.get(f"{keyed.url}{path}", timeout=10).status_code == 200


@pytest.mark.parametrize(("method", "path"), [("POST", "/invocations"), ("GET", "/example"), ("GET", "/version")])
@pytest.mark.parametrize("given", [None, "wrong", "Basic"])
def test_inference_endpoints_refuse_a_missing_or_wrong_key(keyed: Keyed, method: str, path: str, given: str | None) -> None:
    headers = (
        {} if given is None else {"Authorization": f"Basic {keyed.key}"} if given == "Basic" else {"Authorization": f"Bearer {keyed.key}x"}
    )
    answer = requests.request(method, f"{keyed.url}{path}", json=split_body(keyed.model.rows), headers=headers, timeout=10)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert "API key" in answer.json()["error"] and keyed.key not in answer.text


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_the_right_key_opens_every_endpoint(keyed: Keyed, header: str) -> None:
    value = f"Bearer {keyed.key}" if header == "Authorization" else keyed.key
    answer = requests.post(f"{keyed.url}/invocations", json=split_body(keyed.model.rows), headers={header: value}, timeout=10)
    assert answer.status_code == 200 and answer.json()["predictions"] == keyed.model.expected.tolist()
    for path in ("/example", "/version"):
        assert requests.get(f"{keyed.url}{path}", headers={header: value}, timeout=10).status_code == 200


def test_the_key_is_never_logged(keyed: Keyed) -> None:
    requests.post(
        f"{keyed.url}/invocations", json=split_body(keyed.model.rows), headers={"Authorization": f"Bearer {keyed.key}"}, timeout=10
    )
    text = keyed.log.read_text()
    assert '"POST /invocations" 200' in text and keyed.key not in text


def test_a_key_file_others_can_read_is_refused(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("s3cret-value\n")
    key_file.chmod(0o644)
    env = {**client_env(mlflow_server.url, MODEL_URI="models:/m@champion"), "SERVING_API_KEY_FILE": str(key_file)}
    result = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "mode 0644 lets others read the key; expected 0600" in result.stderr
    assert "s3cret-value" not in result.stderr + result.stdout


def _slow_request(url: str, rows: pd.DataFrame) -> tuple[socket.socket, bytes]:
    """Sends the headers and half the body of a POST, so the request is in flight."""
    body = json.dumps(split_body(rows)).encode()
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock, body


def _finish(sock: socket.socket, body: bytes) -> tuple[int, bytes]:
    """Sends the rest of the body and reads the answer until the server closes (Connection: close)."""
    sock.sendall(body[len(body) // 2 :])
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def test_sigterm_fails_readiness_then_drains_in_flight_requests(mlflow_server: MlflowServer, champion: Registered, tmp_path: Path) -> None:
    proc, log, url = start_server(tmp_path, server_env(mlflow_server, champion.name, tmp_path, SERVING_DRAIN_SECONDS="3"))
    try:
        wait_for_http(f"{url}/ping", 120, proc, log)
        in_flight, body = _slow_request(url, champion.rows)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ping = requests.get(f"{url}/ping", timeout=5)
        assert ping.status_code == 503 and ping.json()["status"] == "draining"
        # Still serving new requests during the drain window (a balancer may not have noticed yet).
        answer = requests.post(f"{url}/invocations", json=split_body(champion.rows), timeout=10)
        assert answer.status_code == 200 and answer.json()["predictions"] == champion.expected.tolist()
        status, payload = _finish(in_flight, body)
        assert status == 200 and b'"predictions"' in payload
        assert proc.wait(timeout=60) == 0
    finally:
        stop_process_group(proc)
    assert "got SIGTERM: readiness now fails" in log.read_text()


def test_forked_workers_share_the_port_and_are_ready_only_when_all_loaded(
    mlflow_server: MlflowServer, champion: Registered, tmp_path: Path
) -> None:
    proc, log, url = start_server(
        tmp_path, server_env(mlflow_server, champion.name, tmp_path, SERVING_WORKERS="2", SERVING_DRAIN_SECONDS="0")
    )
    try:
        wait_listening(url, proc, log)
        wait_for_http(f"{url}/ping", 120, proc, log)
        text = log.read_text()
        assert text.count("checked and batched scikit-learn predictions") == 2, text
        # Every worker is loaded: no request may meet a worker without a model. The kernel hands new
        # connections to whichever worker accepts first, so send rounds until both have answered.
        pids: set[str] = set()
        for _ in range(10):
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda _: requests.post(
                            f"{url}/invocations", json=split_body(champion.rows), headers={"Connection": "close"}, timeout=10
                        ),
                        range(40),
                    )
                )
            assert all(a.status_code == 200 and a.json()["predictions"] == champion.expected.tolist() for a in answers)
            pids = {line.rsplit("pid=", 1)[1] for line in log.read_text().splitlines() if line.startswith("access ") and "pid=" in line}
            if len(pids) == 2:
                break
        assert len(pids) == 2, pids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        stop_process_group(proc)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_requests_over_the_in_flight_limit_get_503_and_the_server_recovers(
    mlflow_server: MlflowServer, champion: Registered, tmp_path: Path
) -> None:
    proc, log, url = start_server(tmp_path, server_env(mlflow_server, champion.name, tmp_path, SERVING_MAX_IN_FLIGHT="1"))
    try:
        wait_for_http(f"{url}/ping", 120, proc, log)
        slow, body = _slow_request(url, champion.rows)  # holds the one slot while its body is still arriving
        time.sleep(0.3)
        refused = requests.post(f"{url}/invocations", json=split_body(champion.rows), timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1" and "overloaded" in refused.json()["error"]
        assert requests.get(f"{url}/ping", timeout=10).status_code == 200  # probes are not limited
        assert _finish(slow, body)[0] == 200
        answer = requests.post(f"{url}/invocations", json=split_body(champion.rows), timeout=10)
        assert answer.status_code == 200 and answer.json()["predictions"] == champion.expected.tolist()
    finally:
        stop_process_group(proc)
