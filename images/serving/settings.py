"""The model server's environment, read and checked once at start.

MODEL_URI, MLFLOW_TRACKING_URI          required: the model and where to fetch it
HOST (0.0.0.0), PORT (8080), REPLICA_ID (host name), MODEL_LOAD_TIMEOUT_SECONDS (300)
SERVING_WORKERS (1)                     processes sharing the port, each with its own model copy
SERVING_MAX_BODY_BYTES (10485760)       larger bodies get 413
SERVING_MAX_ROWS (10000)                more rows in one request get 413
SERVING_MAX_IN_FLIGHT (1024)            more concurrent /invocations per worker get 503
SERVING_BATCH_MAX_ROWS (1024)           rows coalesced into one predict call
SERVING_BATCH_WAIT_MS (0)               how long a lone request waits for company
SERVING_DRAIN_SECONDS (3)               after SIGTERM: readiness fails, requests still served
SERVING_ACCESS_LOG (1)                  one stdout line per request; 0 turns it off
SERVING_API_KEY_FILE or SERVING_API_KEY the inference API key (a file others cannot read, e.g.
                                        0600, or the value); unset: no key is asked for
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_loader import ModelRef, ModelUriError, parse_model_uri


class SettingsError(ValueError):
    pass


def _number(env: Mapping[str, str], name: str, default: float, minimum: float, integer: bool = True) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected {'an integer' if integer else 'a number'}") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: expected at least {minimum:g}")
    return value


def read_api_key(env: Mapping[str, str]) -> str | None:
    path = env.get("SERVING_API_KEY_FILE", "").strip()
    if path:
        file = Path(path)
        try:
            mode = file.stat().st_mode
            key = file.read_text().strip()
        except OSError as err:
            raise SettingsError(f"SERVING_API_KEY_FILE={path}: cannot read it: {err.strerror}") from None
        # Group bits stay allowed: a Kubernetes Secret volume is readable by the pod's fsGroup only.
        if mode & stat.S_IRWXO:
            raise SettingsError(
                f"SERVING_API_KEY_FILE={path}: mode {stat.S_IMODE(mode):04o} lets others read the key; expected 0600 (chmod 600 {path})"
            )
        if not key:
            raise SettingsError(f"SERVING_API_KEY_FILE={path}: the file is empty; expected the API key")
        return key
    return env.get("SERVING_API_KEY", "").strip() or None


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    replica_id: str
    load_timeout: float
    workers: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    max_rows: int = 10_000
    max_in_flight: int = 1024
    batch_max_rows: int = 1024
    batch_wait_seconds: float = 0.0
    drain_seconds: float = 3.0
    access_log: bool = True
    api_key: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Settings(host={self.host!r}, port={self.port}, workers={self.workers}, api_key={'set' if self.api_key else 'unset'})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> tuple[Settings, ModelRef]:
        env = os.environ if env is None else env
        try:
            ref = parse_model_uri(env.get("MODEL_URI", ""))
        except ModelUriError as err:
            raise SettingsError(str(err)) from None
        if not env.get("MLFLOW_TRACKING_URI", "").strip():
            raise SettingsError("MLFLOW_TRACKING_URI is not set: expected the tracking server URL, e.g. http://mlflow:5000")
        port = int(_number(env, "PORT", 8080, 0))
        if port > 65535:
            raise SettingsError(f"PORT={port}: expected a port number up to 65535")
        settings = cls(
            host=env.get("HOST", "").strip() or "0.0.0.0",
            port=port,
            replica_id=env.get("REPLICA_ID", "").strip() or socket.gethostname(),
            load_timeout=_number(env, "MODEL_LOAD_TIMEOUT_SECONDS", 300, 0, integer=False),
            workers=int(_number(env, "SERVING_WORKERS", 1, 1)),
            max_body_bytes=int(_number(env, "SERVING_MAX_BODY_BYTES", 10 * 1024 * 1024, 1)),
            max_rows=int(_number(env, "SERVING_MAX_ROWS", 10_000, 1)),
            max_in_flight=int(_number(env, "SERVING_MAX_IN_FLIGHT", 1024, 1)),
            batch_max_rows=int(_number(env, "SERVING_BATCH_MAX_ROWS", 1024, 1)),
            batch_wait_seconds=_number(env, "SERVING_BATCH_WAIT_MS", 0, 0, integer=False) / 1000,
            drain_seconds=_number(env, "SERVING_DRAIN_SECONDS", 3, 0, integer=False),
            access_log=env.get("SERVING_ACCESS_LOG", "1").strip().lower() not in ("0", "false", "no", "off"),
            api_key=read_api_key(env),
        )
        return settings, ref
