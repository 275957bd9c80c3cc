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

Two more lookups MLflow's permission checks repeat on every request of a non-admin user are cached the
same way, on the first request (`install_lookup_caches`): whether the sender is an admin (per username,
for the same TTL, so a promotion or demotion takes effect within it) and which experiment a run or a
logged model belongs to (which never changes; MLflow loads the whole run or model for it). Permissions
themselves are read fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

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


class TtlMap:
    """A small thread-safe map whose entries expire (ttl) and whose oldest entries go first (max_entries)."""

    def __init__(self, ttl_seconds: float | None, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, key: str, load: Callable[[], object]) -> object:
        if self.ttl is not None and self.ttl <= 0:
            return load()
        now = self.clock()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and (self.ttl is None or now < hit[0]):
                return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (now + (self.ttl or 0), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value


admin_flags = TtlMap(TTL_SECONDS)
#: A run or a logged model never moves to another experiment: no expiry, only a bound.
run_experiments = TtlMap(None)
model_experiments = TtlMap(None)
_installed = False


def install_lookup_caches() -> None:
    """Wraps MLflow's `sender_is_admin`, `_get_permission_from_run_id` and `_get_permission_from_model_id`
    (its validators look them up by name on every request)."""
    global _installed
    if _installed:
        return
    _installed = True
    import mlflow.server.auth as auth

    wrapped = (
        "sender_is_admin",
        "_get_permission_from_run_id",
        "_get_permission_from_model_id",
        "_get_request_param",
        "_get_tracking_store",
    )
    if not all(hasattr(auth, name) for name in wrapped):
        return  # another MLflow version: its own lookups stay as they are

    def sender_is_admin() -> bool:
        username = auth.authenticate_request().username
        return bool(admin_flags.get_or_load(username, lambda: auth.store.get_user(username).is_admin))

    def experiment_permission(experiment_id: object) -> object:
        username = auth.authenticate_request().username
        return auth._get_permission_from_store_or_default(lambda: auth.store.get_experiment_permission(experiment_id, username).permission)

    def _get_permission_from_run_id() -> object:
        run_id = auth._get_request_param("run_id")
        return experiment_permission(
            run_experiments.get_or_load(run_id, lambda: auth._get_tracking_store().get_run(run_id).info.experiment_id)
        )

    def _get_permission_from_model_id() -> object:
        model_id = auth._get_request_param("model_id")
        return experiment_permission(
            model_experiments.get_or_load(model_id, lambda: auth._get_tracking_store().get_logged_model(model_id).experiment_id)
        )

    auth.sender_is_admin = sender_is_admin
    auth._get_permission_from_run_id = _get_permission_from_run_id
    auth._get_permission_from_model_id = _get_permission_from_model_id


def authenticate_request_basic_auth_cached() -> Authorization | Response:
    """MLflow's basic-auth check, skipped for a login it accepted less than `TTL_SECONDS` ago."""
    # Imported here: importing mlflow.server.auth builds the auth app, which the server does itself first.
    from mlflow.server.auth import authenticate_request_basic_auth

    install_lookup_caches()
    auth = request.authorization
    if auth is None or auth.username is None or auth.password is None:
        return authenticate_request_basic_auth()
    if cache.accepted(auth.username, auth.password):
        return auth
    result = authenticate_request_basic_auth()
    if isinstance(result, Authorization):
        cache.remember(auth.username, auth.password)
    return result
