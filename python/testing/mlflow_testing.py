"""Real processes for the workload tests: an `mlflow server` on a free loopback port, and helpers
to wait for HTTP endpoints and run the workload CLIs. Imported by images/*/tests/conftest.py."""

from __future__ import annotations

import atexit
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAINER_DIR = REPO_ROOT / "images" / "trainer"
SERVING_DIR = REPO_ROOT / "images" / "serving"
BIN_DIR = Path(sys.executable).parent  # the venv running pytest holds the `mlflow` entry point


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen[bytes] | None = None, log: Path | None = None, auth: tuple[str, str] | None = None
) -> None:
    """Waits for a 200 from `url`; fails early, with the log's tail, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered:\n{tail(log)}")
        try:
            if requests.get(url, timeout=2, auth=auth).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f}s:\n{tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """The process was started in its own session: end it and any workers it forked."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)


@dataclass
class MlflowServer:
    """`mlflow server` with SQLite and a local artifact folder served through the server's proxy."""

    root: Path
    port: int = field(default_factory=free_port)
    #: (user, password) turns on `--app-name basic-auth`, configured through a 0600 ini file.
    admin: tuple[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def command(self) -> list[str]:
        cmd = [str(BIN_DIR / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"]
        cmd += ["--artifacts-destination", (self.root / "artifacts").as_uri(), "--serve-artifacts"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        return cmd + (["--app-name", "basic-auth"] if self.admin else [])

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        if self.admin:
            user, password = self.admin
            config = self.root / "basic_auth.ini"
            config.touch(mode=0o600)
            config.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{self.root / 'auth.db'}\n"
                f"admin_username = {user}\nadmin_password = {password}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            )
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)  # CSRF key the auth app requires
        return env

    def start(self, wait: bool = True) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.environment(), start_new_session=True, cwd=self.root
            )
        atexit.register(self.stop)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 150) -> None:
        assert self.process is not None
        wait_for_http(f"{self.url}/health", timeout, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)


_shared: dict[str, MlflowServer] = {}


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> MlflowServer:
    """One server per test session, whichever test folder asks first (startup costs ~10 s)."""
    if "server" not in _shared:
        started = time.monotonic()
        _shared["server"] = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
        print(f"\nmlflow server ready at {_shared['server'].url} in {time.monotonic() - started:.1f}s", flush=True)
    return _shared["server"]


def add_workload_to_path(name: str) -> None:
    """Lets tests import the workload's modules the way its image runs them (flat, from /app)."""
    path = str(REPO_ROOT / "images" / name)
    if path not in sys.path:
        sys.path.insert(0, path)


def run_cli(script: Path, args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=timeout)


def client_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    """The caller's environment with the tracking server set and no stray MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONUNBUFFERED": "1", **extra}


class DelayingProxy:
    """A loopback HTTP proxy in front of `target` that holds each request whose path matches `pattern`
    for `delay` seconds before forwarding it: a slow link to the artifact store, for real sockets.
    Use as a context manager; `url` is what clients point at."""

    def __init__(self, target: str, pattern: str, delay: float) -> None:
        upstream = urlsplit(target)
        matches = re.compile(pattern)
        self.held: list[str] = []
        held = self.held

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if matches.search(self.path.split("?", 1)[0]):
                    held.append(self.path)
                    time.sleep(delay)
                conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DelayingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
