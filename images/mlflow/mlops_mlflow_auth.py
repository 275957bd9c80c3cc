"""MLflow basic auth without a scrypt hash per request.

MLflow's own check (`mlflow.server.auth:authenticate_request_basic_auth`) verifies the password hash on
every request, and its permission validators ask again (`sender_is_admin`, `username_is_sender`): about
240 ms of CPU per check, which makes a trial logging a few dozen calls 5-10x slower. This wraps that
check with a small in-process cache of logins it accepted, so a repeated login costs one HMAC.

What the cache holds: an HMAC-SHA256 of (username, password) under a key made at process start, never the
password, and never a value that outlives the process. Only accepted logins are cached (a wrong password
is checked in full every time, so guessing stays as slow as MLflow makes it). An entry lives `TTL_SECONDS`
(env `MLOPS_AUTH_CACHE_TTL_SECONDS`, default 30, 0 turns the cache off): a changed password or a deleted
user stops working within that time on every worker. The ini selects it with
`authorization_function = mlops_mlflow_auth:authenticate_request_basic_auth_cached`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

from flask import Response, request
from werkzeug.datastructures import Authorization

TTL_SECONDS = float(os.environ.get("MLOPS_AUTH_CACHE_TTL_SECONDS", "30"))
#: Bounds memory if many distinct logins arrive; the oldest entries go first.
MAX_ENTRIES = 1024


class LoginCache:
    """Accepted logins by keyed hash, each until its deadline. Thread-safe (gunicorn/uvicorn threads)."""

    def __init__(self, ttl_seconds: float, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._deadlines: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, username: str, password: str) -> bytes:
        # A NUL cannot occur in a basic-auth username, so ("a", "b\0c") and ("a\0b", "c") differ.
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def accepted(self, username: str, password: str) -> bool:
        if self.ttl <= 0:
            return False
        digest = self.digest(username, password)
        with self._lock:
            deadline = self._deadlines.get(digest)
            if deadline is None:
                return False
            if self.clock() >= deadline:
                del self._deadlines[digest]
                return False
            return True

    def remember(self, username: str, password: str) -> None:
        if self.ttl <= 0:
            return
        digest = self.digest(username, password)
        with self._lock:
            self._deadlines[digest] = self.clock() + self.ttl
            self._deadlines.move_to_end(digest)
            while len(self._deadlines) > self.max_entries:
                self._deadlines.popitem(last=False)

    def __len__(self) -> int:
        return len(self._deadlines)


cache = LoginCache(TTL_SECONDS)


def authenticate_request_basic_auth_cached() -> Authorization | Response:
    """MLflow's basic-auth check, skipped for a login it accepted less than `TTL_SECONDS` ago."""
    # Imported here: importing mlflow.server.auth builds the auth app, which the server does itself first.
    from mlflow.server.auth import authenticate_request_basic_auth

    auth = request.authorization
    if auth is None or auth.username is None or auth.password is None:
        return authenticate_request_basic_auth()
    if cache.accepted(auth.username, auth.password):
        return auth
    result = authenticate_request_basic_auth()
    if isinstance(result, Authorization):
        cache.remember(auth.username, auth.password)
    return result
