"""Model server: one registered MLflow model behind MLflow's scoring API (/invocations), as a plain
ASGI app on uvicorn (uvloop and httptools when installed).

Env: MODEL_URI (models:/<name>@<alias>), MLFLOW_TRACKING_URI, PORT (8080), HOST (0.0.0.0),
REPLICA_ID (default: host name), MODEL_LOAD_TIMEOUT_SECONDS (300), optionally
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (read by the MLflow client itself), and the
SERVING_* settings in settings.py (workers, limits, batching, API key, drain time).

The port opens at once; /ping and /health answer 503 until the model is loaded, then 200, and 503
again from SIGTERM on while the server drains (SERVING_DRAIN_SECONDS still serving, then in-flight
requests finish). If the model cannot be loaded within the timeout the process exits 1. Every
response carries X-Replica-Id and one access-log line per request goes to stdout, so load spreading
can be checked from logs. With SERVING_WORKERS > 1 the process forks that many workers sharing the
port, each with its own copy of the model.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import orjson
import uvicorn
from batcher import Batcher, Columns, ModelFailure
from forest import forest_predictor
from model_loader import LoadedModel, ModelRef, load_with_retries
from scoring import (
    Contract,
    ScoringInputError,
    TooManyRowsError,
    check_scoring_request,
    frame_for_pyfunc,
    predict_method,
    to_frame,
    to_jsonable,
)
from settings import Settings, SettingsError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Bodies above this size are parsed and checked on a worker thread, not on the event loop.
INLINE_BODY_BYTES = 4 * 1024
#: orjson reads integer literals beyond 64 bits as floats; such bodies go to the stdlib parser,
#: which keeps them integers so the contract can refuse them by name.
_HUGE_INT = re.compile(rb"(?<![\d.eE])-?\d{20,}(?![\d.eE])")
# A cheap first look (the regex costs ~50 us per row of 20 floats): any run of 20 digits at all?
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_ZEROS = b"0" * 20


def say(message: str) -> None:
    print(message, flush=True)


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass
class ServerState:
    ref: ModelRef
    settings: Settings
    loaded: LoadedModel | None = None
    failure: str | None = None
    draining: bool = False
    contract: Contract | None = None
    batcher: Batcher | None = None
    in_flight: int = 0
    #: True once every worker of this replica has its model (always true with one worker).
    all_workers_loaded: Callable[[], bool] = lambda: True
    parse_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="parse"))
    predict_pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="predict"))

    def prepare(self, loaded: LoadedModel) -> None:
        """Called once the model is loaded: picks the checked, batched path when the signature allows it."""
        settings = self.settings
        if loaded.input_schema:
            contract = Contract.from_schema(
                loaded.input_schema, allow_nan=loaded.allow_nan, max_rows=settings.max_rows, missing_columns=loaded.optional_columns
            )
            if contract.supported:
                self.contract = contract
                self.batcher = Batcher(
                    _predictor(loaded, contract), self.predict_pool, settings.batch_max_rows, settings.batch_wait_seconds
                )

    def ready(self, loaded: LoadedModel) -> None:
        """From here on `/ping` answers 200 and requests are predicted."""
        self.loaded = loaded


def _predictor(loaded: LoadedModel, contract: Contract) -> Callable[[Columns, str], list[Any]]:
    """Per method, the forest fast path where it is exact, else the estimator's own method on the
    checked frame (any scikit-learn-API model), else pyfunc.predict (other flavours)."""
    methods: dict[str, Callable[[Columns], Any]] = {}
    for name, method in loaded.sklearn_methods.items():
        owner, called = getattr(method, "__self__", None), getattr(method, "__name__", "")
        fast = forest_predictor(owner, called, contract.columns, contract.dtypes) if owner is not None else None
        methods[name] = fast or (lambda columns, method=method: method(to_frame(columns, contract)))
    if not methods:
        methods["predict"] = lambda columns: loaded.model.predict(to_frame(columns, contract))
    return lambda columns, name: to_jsonable(methods[name](columns))


def check_method(loaded: LoadedModel, method: str, checked: bool) -> None:
    """A method the model cannot answer is the client's mistake (400), found before any row is read."""
    if method == "predict":
        return
    if not loaded.sklearn_methods:
        raise ScoringInputError(f"params.predict_method: {method} is not available: this model is not a scikit-learn model; use predict")
    if method not in loaded.sklearn_methods:
        raise ScoringInputError(
            f"params.predict_method: this model has no {method} (it is not a classifier with probabilities, e.g. a regressor); use predict"
        )
    if not checked:
        raise ScoringInputError(
            f"params.predict_method: {method} is served only for models whose signature the server checks (named columns of numbers, booleans and strings)"
        )


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ScoringInputError('empty body: expected a JSON object such as {"dataframe_split": {...}}')
    if _TWENTY_ZEROS not in body.translate(_DIGITS_TO_ZERO) or _HUGE_INT.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # NaN/Infinity literals are not JSON but MLflow clients send them: the stdlib reads them
    try:
        return json.loads(body)
    except RecursionError:
        raise ScoringInputError("the JSON body nests too deep") from None
    except ValueError as err:  # JSONDecodeError, invalid UTF-8, integers over 4300 digits
        raise ScoringInputError(f"expected a JSON body: {' '.join(str(err).split())[:200]}") from None


class ServingApp:
    """The HTTP API: routing, API key, limits and error mapping around the model."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.replica = state.settings.replica_id.encode()
        self.pid = os.getpid()  # the app is built in the worker, after any fork
        key = state.settings.api_key
        self.api_key = key.encode() if key else None
        self.routes: dict[str, tuple[str, bool, Callable[[Scope, Receive], Awaitable[tuple[int, Any]]]]] = {
            "/ping": ("GET", False, self.health),
            "/health": ("GET", False, self.health),
            "/version": ("GET", True, self.version),
            "/example": ("GET", True, self.example),
            "/invocations": ("POST", True, self.invocations),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path, method = scope["path"], scope["method"]
        extra: tuple[tuple[bytes, bytes], ...] = ()
        try:
            route = self.routes.get(path)
            if route is None:
                raise HttpError(404, f"no such path {path[:100]}: expected one of {', '.join(self.routes)}")
            if method != route[0] and not (method == "HEAD" and route[0] == "GET"):
                raise HttpError(405, f"{method} {path}: expected {route[0]}", ((b"allow", route[0].encode()),))
            if route[1]:
                self.authorize(scope)
            status, payload = await route[2](scope, receive)
        except HttpError as err:
            status, payload, extra = err.status, {"error": err.message}, err.headers
        except Exception as err:  # a bug must still answer with the replica header and a log line
            say(f"replica={self.state.settings.replica_id} error handling {path}: {type(err).__name__}: {err}")
            status, payload = 500, {"error": "internal error"}
        body = orjson.dumps(payload)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-replica-id", self.replica),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})
        if self.state.settings.access_log:
            client = scope["client"][0] if scope.get("client") else "-"
            say(
                f'access replica={self.state.settings.replica_id} client={client} "{method} {path}" {status} {(time.perf_counter() - started) * 1000:.1f}ms pid={self.pid}'
            )

    def authorize(self, scope: Scope) -> None:
        if self.api_key is None:
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
            elif name == b"x-api-key":
                given = value.strip()
        if not given or not hmac.compare_digest(given, self.api_key):
            why = "missing API key" if not given else "wrong API key"
            raise HttpError(
                401, f"{why}: send the key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", ((b"www-authenticate", b"Bearer"),)
            )

    def _loaded(self) -> LoadedModel:
        loaded = self.state.loaded
        if loaded is None:
            raise HttpError(503, f"model {self.state.ref.uri} is still loading")
        return loaded

    async def health(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        state = self.state
        if state.loaded is None or not state.all_workers_loaded():
            return 503, {"status": "loading", "model_uri": state.ref.uri}
        if state.draining:
            return 503, {"status": "draining", "model_uri": state.ref.uri, "version": state.loaded.version}
        return 200, {"status": "ok", "model_uri": state.ref.uri, "version": state.loaded.version}

    async def version(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        loaded = self._loaded()
        return 200, {
            "model_name": loaded.name,
            "alias": loaded.alias,
            "version": loaded.version,
            "run_id": loaded.run_id,
            "source": loaded.source,
            "model_uri": self.state.ref.uri,
            "replica_id": self.state.settings.replica_id,
        }

    async def example(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        """One row of the model's own logged input example, ready to POST to /invocations."""
        loaded = self._loaded()
        sample = loaded.model.input_example
        if sample is None or not hasattr(sample, "head"):
            raise HttpError(404, f"model {self.state.ref.uri} was logged without a tabular input example")
        row = sample.head(1)
        return 200, {"dataframe_split": {"columns": [str(c) for c in row.columns], "data": to_jsonable(row.to_numpy().tolist())}}

    async def invocations(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        state = self.state
        loaded = self._loaded()
        if state.in_flight >= state.settings.max_in_flight:
            raise HttpError(
                503, f"overloaded: {state.in_flight} requests in progress (SERVING_MAX_IN_FLIGHT); retry shortly", ((b"retry-after", b"1"),)
            )
        state.in_flight += 1
        try:
            body = await self._body(scope, receive)
            method, predictions = await self._predict(loaded, body)
            if method == "predict_proba":  # MLflow's shape, plus what each probability is of
                return 200, {"predictions": predictions, "classes": loaded.classes}
            return 200, {"predictions": predictions}
        finally:
            state.in_flight -= 1

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.state.settings.max_body_bytes
        content_type, length = b"", None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != b"application/json":
            shown = content_type.decode("latin-1")[:100] or "none"
            raise HttpError(415, f"Content-Type {shown}: expected application/json")
        if length is not None and length.isdigit() and int(length) > limit:
            raise HttpError(413, f"body of {int(length)} bytes is over the limit of {limit} bytes (SERVING_MAX_BODY_BYTES)")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"body is over the limit of {limit} bytes (SERVING_MAX_BODY_BYTES)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _predict(self, loaded: LoadedModel, body: bytes) -> tuple[str, list[Any]]:
        """The method asked for and one answer per row."""
        state = self.state
        contract, batcher = state.contract, state.batcher
        loop = asyncio.get_running_loop()
        try:
            if contract is None or batcher is None:
                frame = await loop.run_in_executor(state.parse_pool, _pyfunc_frame, body, loaded, state.settings.max_rows)
                return "predict", await loop.run_in_executor(state.predict_pool, _pyfunc_predict, loaded, frame)
            if len(body) <= INLINE_BODY_BYTES:  # microseconds: cheaper than a thread hop
                method, columns = _check_body(body, contract, loaded)
            else:
                method, columns = await loop.run_in_executor(state.parse_pool, _check_body, body, contract, loaded)
            return method, await batcher.submit(columns, method)
        except TooManyRowsError as err:
            raise HttpError(413, str(err)) from None
        except ScoringInputError as err:
            raise HttpError(400, str(err)) from None
        except ModelFailure as err:
            raise HttpError(500, str(err)) from None


def _check_body(body: bytes, contract: Contract, loaded: LoadedModel) -> tuple[str, Columns]:
    payload = parse_json(body)
    method = predict_method(payload)  # first: a method the model lacks is refused before any row is read
    check_method(loaded, method, checked=True)
    return method, check_scoring_request(payload, contract)


def _pyfunc_frame(body: bytes, loaded: LoadedModel, max_rows: int) -> Any:
    payload = parse_json(body)
    check_method(loaded, predict_method(payload), checked=False)
    return frame_for_pyfunc(payload, list(loaded.input_schema or []) or None, max_rows)


def _pyfunc_predict(loaded: LoadedModel, frame: Any) -> list[Any]:
    """Models the contract cannot check: pyfunc's own schema enforcement decides (its rejections are 400s)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, ErrorCode

    try:
        predictions = loaded.model.predict(frame)
    except MlflowException as err:
        reason = " ".join(err.message.rsplit("Error: ", 1)[-1].split())[:500]
        if err.error_code == ErrorCode.Name(INVALID_PARAMETER_VALUE):
            raise ScoringInputError(reason) from None
        raise ModelFailure(f"the model failed to predict: {reason}") from None
    except Exception as err:
        raise ModelFailure(f"the model failed to predict: {type(err).__name__}: {' '.join(str(err).split())[:300]}") from None
    return to_jsonable(predictions)


class DrainingServer(uvicorn.Server):
    """SIGTERM/SIGINT: fail readiness at once, keep serving for the drain time, then stop accepting and
    let in-flight requests finish. A SIGINT while draining stops at once; more SIGTERMs change nothing
    (a process group stop and a forwarding parent may both send one)."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        state = self.state
        if state.draining:
            if sig == signal.SIGINT:
                self.should_exit = True
            return
        state.draining = True
        drain = state.settings.drain_seconds if state.loaded is not None else 0
        say(
            f"replica={state.settings.replica_id} got {signal.Signals(sig).name}: readiness now fails; serving {drain:g}s more, then finishing in-flight requests"
        )
        if drain <= 0:
            self.should_exit = True
        else:
            timer = threading.Timer(drain, lambda: setattr(self, "should_exit", True))
            timer.daemon = True
            timer.start()


def run_worker(settings: Settings, ref: ModelRef, sock: socket.socket, index: int = 0, loaded_workers: Any = None) -> int:
    """Worker 0 answers at once (503 until loaded); other workers load first and only then accept, so
    no request reaches a worker without a model. `loaded_workers` is a counter shared across forks."""
    state = ServerState(ref=ref, settings=settings)
    if loaded_workers is not None:
        state.all_workers_loaded = lambda: loaded_workers.value >= settings.workers
    # No proxy-headers middleware: it parses an IP address per request and the server needs no X-Forwarded-For.
    config = uvicorn.Config(
        ServingApp(state),
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=max(30, int(settings.drain_seconds) + 30),
    )
    server = DrainingServer(config, state)
    name = settings.replica_id if index == 0 else f"{settings.replica_id} worker={index}"

    def load() -> None:
        from mlflow.tracking import MlflowClient  # seconds of imports: not before the port answers

        say(f"replica={name} loading {ref.uri} (giving up after {settings.load_timeout:.0f}s)")
        started = time.monotonic()
        try:
            loaded = load_with_retries(
                ref, MlflowClient(), settings.load_timeout, lambda m: say(f"replica={name} {m}"), stop=lambda: server.should_exit
            )
            state.prepare(loaded)
            # The imports and the model are long-lived: moving them out of the collector's reach keeps
            # full collections (tens of ms with MLflow, pandas and scikit-learn loaded) out of p99.
            gc.collect()
            gc.freeze()
        except Exception as err:
            state.failure = str(err)
            print(f"server: error: {err}", file=sys.stderr, flush=True)
            server.should_exit = True
            return
        path = (
            "checked and batched scikit-learn"
            if loaded.sklearn_methods and state.batcher
            else "checked and batched pyfunc"
            if state.batcher
            else "pyfunc"
        )
        # Logged before readiness flips, so a log read after the first 200 from /ping always has it.
        say(
            f"replica={name} serving {ref.uri} = version {loaded.version} (run {loaded.run_id}) on {settings.host}:{settings.port}, "
            f"loaded in {time.monotonic() - started:.1f}s, {path} predictions (pid {os.getpid()})"
        )
        state.ready(loaded)
        if loaded_workers is not None:
            with loaded_workers.get_lock():
                loaded_workers.value += 1

    if index == 0:
        threading.Thread(target=load, name="model-loader", daemon=True).start()
    else:
        load()
        if state.failure:
            return 1
    server.run(sockets=[sock])
    return 1 if state.failure else 0


def listen(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, ref: ModelRef, sock: socket.socket) -> int:
    """SERVING_WORKERS > 1: forked workers accept on the one listening socket. A signal is passed on
    to every worker; a worker that exits on its own ends the others (the platform restarts the replica)."""
    import multiprocessing

    loaded_workers = multiprocessing.Value("i", 0)
    children: dict[int, int] = {}
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run_worker(settings, ref, sock, index, loaded_workers)
            finally:
                os._exit(code)
        children[pid] = index
    stopping = False

    def forward(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    say(
        f"replica={settings.replica_id} {settings.workers} workers on {settings.host}:{settings.port}: pids {', '.join(map(str, children))}"
    )
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.pop(pid, None)
        exit_code = os.waitstatus_to_exitcode(status)
        if not stopping:
            say(f"replica={settings.replica_id} worker pid {pid} exited with {exit_code}: stopping the other workers")
            code = exit_code if exit_code > 0 else 1
            forward(signal.SIGTERM, None)
        elif exit_code not in (0, -signal.SIGTERM):
            code = code or 1
    return code


def main() -> int:
    try:
        settings, ref = Settings.from_env()
    except SettingsError as err:
        print(f"server: error: {err}", file=sys.stderr, flush=True)
        return 2
    try:
        sock = listen(settings)
    except OSError as err:
        print(f"server: error: cannot listen on {settings.host}:{settings.port}: {err.strerror}", file=sys.stderr, flush=True)
        return 2
    # PORT=0 takes any free port; this line says which (tests read it, so no port can be taken in between).
    say(f"replica={settings.replica_id} listening on {settings.host}:{sock.getsockname()[1]}")
    if settings.workers == 1:
        return run_worker(settings, ref, sock)
    return supervise(settings, ref, sock)


if __name__ == "__main__":
    sys.exit(main())
