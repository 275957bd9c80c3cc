"""MLflow calls with bounded retries, and the find-or-create lookups the trainer relies on.

Every call goes through `Tracking.call`: connection errors, timeouts and 5xx answers are retried with
exponential backoff until a time budget runs out (the tracking server or its database may be
restarting); then `TrackingUnavailable` ends the worker with a non-zero exit so the platform retries
it. Any other error (4xx: bad request, permission) is raised at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import requests
from contract import ENV_TRACKING_RETRY_SECONDS
from mlflow.entities import Run
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

T = TypeVar("T")

# The client's own urllib3 retries would wait minutes inside one call, hidden from our budget and
# progress output; keep them short so `Tracking.call` owns the policy. Callers may still override.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
# Usage telemetry would phone home from every worker (and wait on it where there is no internet).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Our own progress lines name every run; MLflow's "View run at" links would double them.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


class TrackingUnavailable(Exception):
    """The tracking server kept failing with connection errors or 5xx after every retry."""


_CREDENTIALS_IN_URL = re.compile(r"//[^/@\s]+@")


def one_line(err: BaseException, limit: int = 300) -> str:
    """First line of an error, credentials in URLs masked: safe for logs and MLflow tags."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return _CREDENTIALS_IN_URL.sub("//***@", text)[:limit]


def short_reason(err: BaseException) -> str:
    """What went wrong, short enough for a progress line: urllib3's repr of a refused connection is not."""
    text = str(err)
    status = re.search(r"too many (\d{3}) error responses", text)
    if status:
        return f"HTTP {status.group(1)}"
    # A server killed mid-request drops the connection instead of refusing it.
    needles = (
        ("Connection refused", "connection refused"),
        ("RemoteDisconnected", "connection dropped"),
        ("Connection aborted", "connection dropped"),
        ("Connection reset", "connection dropped"),
        ("timed out", "timed out"),
        ("Name or service not known", "host name not found"),
    )
    for needle, reason in needles:
        if needle in text:
            return reason
    return one_line(err, 160)


def _http_status(err: BaseException) -> int | None:
    if isinstance(err, requests.HTTPError) and err.response is not None:
        return err.response.status_code
    if isinstance(err, RestException):
        return err.get_http_status_code()
    if isinstance(err, MlflowException):
        match = re.search(r"failed with error code (\d{3})", err.message)
        return int(match.group(1)) if match else None
    return None


def is_transient(err: BaseException) -> bool:
    """True for errors that a retry can cure: no connection, timeout, 429 or 5xx."""
    if isinstance(err, (requests.ConnectionError, requests.Timeout)):
        return True
    status = _http_status(err)
    if status is not None:
        return status == 429 or status >= 500
    # mlflow.utils.rest_utils wraps connection failures and timeouts into a plain MlflowException.
    return (
        isinstance(err, MlflowException)
        and err.message.startswith("API request to")
        and ("failed with exception" in err.message or "timeout" in err.message)
    )


@dataclass
class RetryPolicy:
    budget_seconds: float = 120.0
    initial_delay_seconds: float = 1.0
    max_delay_seconds: float = 15.0

    @staticmethod
    def from_env() -> RetryPolicy:
        """MLOPS_TRACKING_RETRY_SECONDS bounds how long one call keeps retrying (default 120)."""
        raw = os.environ.get(ENV_TRACKING_RETRY_SECONDS, "").strip()
        try:
            return RetryPolicy(budget_seconds=float(raw)) if raw else RetryPolicy()
        except ValueError:
            raise ValueError(f"{ENV_TRACKING_RETRY_SECONDS}={raw!r}: expected a number of seconds") from None


def tracking_uri_for_display(uri: str) -> str:
    return _CREDENTIALS_IN_URL.sub("//***@", uri)


@dataclass
class Tracking:
    client: MlflowClient
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    log: Callable[[str], None] = print
    #: Wall time spent inside MLflow calls on any thread (retries included), per kind of call (`what`).
    seconds_by_call: dict[str, float] = field(default_factory=dict)
    #: The part the worker's main thread waited for: its own calls, and `waited` for the recorder.
    waited_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset_clock(self) -> None:
        with self._lock:
            self.waited_seconds, self.seconds_by_call = 0.0, {}

    def waited(self, seconds: float) -> None:
        """The main thread waited this long for MLflow work done on another thread."""
        with self._lock:
            self.waited_seconds += seconds

    def call(self, what: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        started = time.monotonic()
        try:
            return self._call(what, fn, *args, **kwargs)
        finally:
            spent = time.monotonic() - started
            with self._lock:
                self.seconds_by_call[what] = self.seconds_by_call.get(what, 0.0) + spent
                if threading.current_thread() is threading.main_thread():
                    self.waited_seconds += spent

    @property
    def seconds(self) -> float:
        """All the time spent inside MLflow calls: the worker reports it."""
        with self._lock:
            return sum(self.seconds_by_call.values())

    def slowest_calls(self, count: int = 3) -> str:
        """`log model 4.1s, search runs 0.8s, ...`: where the time in MLflow went."""
        ranked = sorted(self.seconds_by_call.items(), key=lambda item: -item[1])[:count]
        return ", ".join(f"{what} {spent:.1f}s" for what, spent in ranked)

    def _call(self, what: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        deadline = time.monotonic() + self.policy.budget_seconds
        delay = self.policy.initial_delay_seconds
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                if not is_transient(err):
                    raise
                attempt += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TrackingUnavailable(
                        f"{what}: tracking server unavailable after {attempt} attempt(s) in {self.policy.budget_seconds:.0f}s: {one_line(err)}"
                    ) from err
                wait = min(delay, self.policy.max_delay_seconds, remaining)
                self.log(f"  {what}: tracking server unavailable ({short_reason(err)}); retry {attempt} in {wait:.1f}s")
                time.sleep(wait)
                delay *= 2


def quote(value: str) -> str:
    """A string literal for MLflow's search filter syntax."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def tag_filter(tags: dict[str, str]) -> str:
    return " and ".join(f"tags.`{key}` = {quote(value)}" for key, value in tags.items())


def search_all_runs(tracking: Tracking, experiment_id: str, filter_string: str) -> list[Run]:
    """Every active run matching the filter, oldest first, across result pages."""
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = tracking.call(
            "search runs",
            tracking.client.search_runs,
            [experiment_id],
            filter_string=filter_string,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def find_or_create_experiment(tracking: Tracking, name: str) -> str:
    experiment = tracking.call("get experiment", tracking.client.get_experiment_by_name, name)
    if experiment is None:
        try:
            return tracking.call("create experiment", tracking.client.create_experiment, name)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # Another process created it between our lookup and create.
            experiment = tracking.call("get experiment", tracking.client.get_experiment_by_name, name)
    if experiment is None:
        raise MlflowException(f"experiment {name!r} could not be created or found")
    if experiment.lifecycle_stage == "deleted":
        raise MlflowException(f"experiment {name!r} is deleted: restore it in MLflow or choose another training.experimentName")
    return experiment.experiment_id
