"""The cached basic-auth check (mlops_mlflow_auth.py) in a Flask request, MLflow's own check replaced by
a counting stand-in: accepted logins skip it until their TTL ends, refused ones never do, and the cache
keeps no password. The real server with this check is exercised by test/integration/mlflowUsers.test.ts."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import mlops_mlflow_auth
import pytest
from flask import Flask, Response
from mlops_mlflow_auth import LoginCache, authenticate_request_basic_auth_cached
from werkzeug.datastructures import Authorization

PASSWORD = "right-password-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Replaces MLflow's scrypt check with one that records each call and accepts only ("alice", PASSWORD)."""
    import mlflow.server.auth as auth

    calls: list[str] = []

    def expensive_check() -> Authorization | Response:
        from flask import request

        calls.append(request.authorization.username if request.authorization else "(none)")
        if request.authorization and (request.authorization.username, request.authorization.password) == ("alice", PASSWORD):
            return request.authorization
        return Response("denied", 401)

    monkeypatch.setattr(auth, "authenticate_request_basic_auth", expensive_check)
    yield calls


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(mlops_mlflow_auth, "cache", LoginCache(30, clock=fake))
    return fake


def login(user: str | None, password: str = PASSWORD) -> Authorization | Response:
    headers = {} if user is None else {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    with Flask(__name__).test_request_context(headers=headers):
        return authenticate_request_basic_auth_cached()


def test_an_accepted_login_skips_the_expensive_check_until_its_ttl_ends(checks: list[str], clock: Clock) -> None:
    assert isinstance(login("alice"), Authorization)
    for _ in range(20):
        result = login("alice")
        assert isinstance(result, Authorization) and result.username == "alice"
    assert checks == ["alice"]
    clock.now += 31
    assert isinstance(login("alice"), Authorization)
    assert checks == ["alice", "alice"]


def test_refused_logins_are_checked_in_full_every_time(checks: list[str], clock: Clock) -> None:
    assert isinstance(login("alice"), Authorization)
    for _ in range(3):
        assert isinstance(login("alice", "wrong-password"), Response)
        assert isinstance(login("mallory"), Response)
        assert isinstance(login(None), Response)
    assert checks == ["alice"] + ["alice", "mallory", "(none)"] * 3


def test_the_cache_holds_no_password_and_stays_bounded(checks: list[str], clock: Clock) -> None:
    cache = LoginCache(30, max_entries=3, clock=clock)
    for i in range(5):
        cache.remember(f"user{i}", PASSWORD)
    assert len(cache) == 3
    assert not cache.accepted("user0", PASSWORD) and cache.accepted("user4", PASSWORD)
    stored = b"".join(cache._deadlines)  # noqa: SLF001 (what is kept in memory)
    assert PASSWORD.encode() not in stored and b"user4" not in stored
    # Two processes key their hashes differently: nothing in one is usable in another.
    assert LoginCache(30).digest("user4", PASSWORD) != cache.digest("user4", PASSWORD)


def test_a_zero_ttl_turns_the_cache_off(checks: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlops_mlflow_auth, "cache", LoginCache(0))
    for _ in range(3):
        assert isinstance(login("alice"), Authorization)
    assert checks == ["alice"] * 3
