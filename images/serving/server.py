"""Model server: one registered MLflow model behind MLflow's scoring API, on FastAPI + uvicorn.

Env: MODEL_URI (models:/<name>@<alias>), MLFLOW_TRACKING_URI, PORT (8080), HOST (0.0.0.0),
REPLICA_ID (default: host name), MODEL_LOAD_TIMEOUT_SECONDS (300), and optionally
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (read by the MLflow client itself).

The port opens at once; /ping and /health answer 503 until the model is loaded, then 200. If the
model cannot be loaded within the timeout the process exits 1. Every response carries X-Replica-Id
and one access-log line per request goes to stdout, so load spreading can be checked from logs.
Writes nothing but MLflow's model download under TMPDIR, so it runs as any non-root user.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from starlette.concurrency import run_in_threadpool

from model_loader import LoadedModel, ModelRef, ModelUriError, load_with_retries, parse_model_uri
from scoring import ScoringInputError, parse_scoring_request, to_jsonable


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class ServerState:
    ref: ModelRef
    replica_id: str
    loaded: LoadedModel | None = None
    failure: str | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _reason(err: Exception) -> str:
    """The useful part of an error: pyfunc's schema errors echo the whole frame before 'Error: <why>'."""
    text = (err.message if isinstance(err, MlflowException) else str(err)).strip()
    if "Error: " in text:
        text = text.rsplit("Error: ", 1)[1]
    return " ".join(text.split())[:500] or type(err).__name__


def create_app(state: ServerState) -> FastAPI:
    app = FastAPI(title="mlops model server", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def replica_header_and_access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as err:  # a bug must still answer with the replica header and a log line
            say(f"replica={state.replica_id} error handling {request.url.path}: {type(err).__name__}: {err}")
            response = _error(500, "internal error")
        response.headers["X-Replica-Id"] = state.replica_id
        client = request.client.host if request.client else "-"
        say(f'access replica={state.replica_id} client={client} "{request.method} {request.url.path}" {response.status_code} {(time.perf_counter() - started) * 1000:.1f}ms')
        return response

    def health() -> JSONResponse:
        if state.loaded is None:
            return JSONResponse({"status": "loading", "model_uri": state.ref.uri}, status_code=503)
        return JSONResponse({"status": "ok", "model_uri": state.ref.uri, "version": state.loaded.version})

    app.add_api_route("/ping", health, methods=["GET"])
    app.add_api_route("/health", health, methods=["GET"])

    @app.get("/version")
    def version() -> JSONResponse:
        loaded = state.loaded
        if loaded is None:
            return _error(503, f"model {state.ref.uri} is still loading")
        return JSONResponse(
            {
                "model_name": loaded.name,
                "alias": loaded.alias,
                "version": loaded.version,
                "run_id": loaded.run_id,
                "source": loaded.source,
                "model_uri": state.ref.uri,
                "replica_id": state.replica_id,
            }
        )

    @app.get("/example")
    def example() -> JSONResponse:
        """One row of the model's own logged input example, ready to POST to /invocations."""
        loaded = state.loaded
        if loaded is None:
            return _error(503, f"model {state.ref.uri} is still loading")
        sample = loaded.model.input_example
        if sample is None or not hasattr(sample, "head"):
            return _error(404, f"model {state.ref.uri} was logged without a tabular input example")
        row = sample.head(1)
        return JSONResponse({"dataframe_split": {"columns": [str(c) for c in row.columns], "data": to_jsonable(row.to_numpy().tolist())}})

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        loaded = state.loaded
        if loaded is None:
            return _error(503, f"model {state.ref.uri} is still loading")
        try:
            payload = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return _error(400, f"expected a JSON body: {err}")
        try:
            frame = parse_scoring_request(payload, loaded.input_schema)
            predictions = await run_in_threadpool(loaded.model.predict, frame)
        except (ScoringInputError, MlflowException, ValueError, TypeError, KeyError) as err:
            # pyfunc schema enforcement and scikit-learn reject bad rows with these; the text says why.
            return _error(400, _reason(err))
        return JSONResponse({"predictions": to_jsonable(predictions)})

    return app


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"server: error: {name}={raw!r}: expected a number") from None


def main() -> int:
    try:
        ref = parse_model_uri(os.environ.get("MODEL_URI", ""))
    except ModelUriError as err:
        print(f"server: error: {err}", file=sys.stderr, flush=True)
        return 2
    if not os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        print("server: error: MLFLOW_TRACKING_URI is not set: expected the tracking server URL, e.g. http://mlflow:5000", file=sys.stderr, flush=True)
        return 2
    port = int(_env_number("PORT", 8080))
    host = os.environ.get("HOST", "0.0.0.0")
    timeout = _env_number("MODEL_LOAD_TIMEOUT_SECONDS", 300)
    state = ServerState(ref=ref, replica_id=os.environ.get("REPLICA_ID", "").strip() or socket.gethostname())
    server = uvicorn.Server(uvicorn.Config(create_app(state), host=host, port=port, access_log=False, log_level="warning"))

    def load() -> None:
        say(f"replica={state.replica_id} loading {ref.uri} (giving up after {timeout:.0f}s)")
        started = time.monotonic()
        try:
            state.loaded = load_with_retries(ref, MlflowClient(), timeout, lambda m: say(f"replica={state.replica_id} {m}"), stop=lambda: server.should_exit)
        except Exception as err:
            state.failure = str(err)
            print(f"server: error: {err}", file=sys.stderr, flush=True)
            server.should_exit = True
            return
        say(f"replica={state.replica_id} serving {ref.uri} = version {state.loaded.version} (run {state.loaded.run_id}) on {host}:{port}, loaded in {time.monotonic() - started:.1f}s")

    threading.Thread(target=load, name="model-loader", daemon=True).start()
    server.run()
    return 1 if state.failure else 0


if __name__ == "__main__":
    sys.exit(main())
