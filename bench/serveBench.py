"""`make bench-serve`: our model server against `mlflow models serve`, same model, same machine.

One run: trains a 60-tree random forest on the generated dataset the trainer uses, registers it as
`models:/serve-bench@champion` in a throwaway MLflow (SQLite + local artifacts), then serves it with
images/serving/server.py (one replica, direct) and with `mlflow models serve --env-manager local`
from the same venv, one after the other so neither steals the other's cores. Both must return the
model's own predictions for the same rows. Load comes from wrk (bounded by time, fixed connections):
single-row requests at concurrency 1, 8 and 32, and batches of 100 rows at concurrency 8. Prints
req/s, p50, p99 and errors per case, and as its last line serve_speedup_c32=<ours/mlflow req/s>.

Servers, one after the other: ours with 1 and with BENCH_WORKERS worker processes, `mlflow models
serve` with its default single worker (the baseline of the last line) and with BENCH_WORKERS workers
(like for like), and 2 replicas of ours behind the local platform's balancer
(components/local/loadBalancer.ts; skipped with a note if it does not start).

Then the XGBoost case (bench/serve_xgboost.py): an XGBClassifier on the same data and rows, served
by ours with BENCH_WORKERS workers and by `mlflow models serve` (1 worker), both of which must return
the model's own predictions, and ours its own probabilities on request. BENCH_XGBOOST=0 skips it.

Env: BENCH_SECONDS (8 per case), BENCH_WORKERS (2), BENCH_KEEP=1 keeps the temp dir. Exits non-zero
if a server fails, predictions differ or wrk is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "images" / "trainer"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import serve_xgboost  # noqa: E402  (bench/ is on the path from here on)

MODEL_NAME = "serve-bench"
CASES = [("c1", 1, 1), ("c8", 8, 1), ("c32", 32, 1), ("batch100-c8", 8, 100)]
WRK_SCRIPT = """
local bodies, i = {}, 0
function init(args) for line in io.lines(args[1]) do bodies[#bodies + 1] = line end end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/invocations", {["Content-Type"] = "application/json"}, bodies[i])
end
function done(s, latency, requests)
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    s.requests, s.duration, s.errors.connect, s.errors.read, s.errors.write, s.errors.status, s.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def say(message: str) -> None:
    print(f"[bench-serve] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def training_data() -> tuple[Any, Any]:
    """The trainer's generated data: 2,000 rows of 20 float features and a binary target."""
    from dataset import synthesize
    from spec import GenerateSpec

    frame = synthesize(GenerateSpec(2000, 20, 8, 2, None, 7), "target")
    return frame.drop(columns=["target"]), frame["target"]


def train_and_register(tmp: Path, tracking_uri: str, x: Any, y: Any) -> tuple[object, list[str]]:
    """The champion: a 60-tree random forest on the trainer's generated data, registered with an alias."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=60, random_state=0).fit(x, y)
    register(model, x, MODEL_NAME, tracking_uri, tmp / "artifacts")
    return model, list(x.columns)


def register(model: Any, x: Any, name: str, tracking_uri: str, artifacts: Path, **log: Any) -> None:
    """Logs `model` with mlflow.sklearn, as the trainer logs a champion, as models:/<name>@champion."""
    import logging

    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic").setLevel(logging.WARNING)  # the throwaway database's migrations
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(name, artifact_location=artifacts.as_uri())
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x, model.predict(x.head(20))),
            input_example=x.head(5),
            registered_model_name=name,
            **log,
        )
    client.set_registered_model_alias(name, "champion", str(info.registered_model_version))


def request_bodies(columns: list[str], rows: int, per_body: int, seed: int) -> list[str]:
    """Fresh rows (another seed than training), as MLflow's dataframe_split bodies."""
    from dataset import synthesize
    from spec import GenerateSpec

    data = synthesize(GenerateSpec(rows * per_body, len(columns), 8, 2, None, seed), "target")[columns].to_numpy().tolist()
    return [json.dumps({"dataframe_split": {"columns": columns, "data": data[i : i + per_body]}}) for i in range(0, len(data), per_body)]


def answer(url: str, body: str) -> dict[str, Any]:
    req = urllib.request.Request(f"{url}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as res:
        return json.loads(res.read())


def post(url: str, body: str) -> list[object]:
    return answer(url, body)["predictions"]


@dataclass
class Server:
    label: str
    command: list[str]
    env: dict[str, str]
    port: int
    cwd: Path | None = None


@contextmanager
def running(server: Server, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{server.port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            server.command, env=server.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=server.cwd or log.parent
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{server.label} exited with {proc.returncode} before answering; log {log}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as res:
                    if res.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.label} did not answer /ping within 180s; log {log}")
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wrk(url: str, script: Path, bodies: Path, connections: int, seconds: int) -> dict[str, float]:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url, "--", str(bodies)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": errors,
        "requests": raw["requests"],
    }


def check_predictions(label: str, url: str, model: object, columns: list[str], singles: list[str], batch: str) -> list[object]:
    """The server's answers for the same rows, which must be the model's own predictions."""
    import pandas as pd

    got = post(url, batch) + [p for body in singles for p in post(url, body)]
    rows = [row for body in [batch, *singles] for row in json.loads(body)["dataframe_split"]["data"]]
    expected = model.predict(pd.DataFrame(rows, columns=columns)).tolist()  # type: ignore[attr-defined]
    if got != expected:
        wrong = sum(1 for a, b in zip(got, expected) if a != b)
        raise RuntimeError(f"{label}: {wrong} of {len(expected)} predictions differ from the model's own")
    say(f"{label}: {len(got)} predictions identical to the model's own")
    return got


@dataclass
class Bench:
    tmp: Path
    model: object
    columns: list[str]
    files: dict[str, Path]
    checks: tuple[list[str], str]
    seconds: int
    answers: dict[str, list[object]]
    results: dict[str, dict[str, dict[str, float]]]

    def run(self, label: str, url: str, cases: list[tuple[str, int, int]] = CASES) -> None:
        self.answers[label] = check_predictions(label, url, self.model, self.columns, *self.checks)
        wrk(url, self.files["script"], self.files["single"], 8, 2)  # warm-up, not counted
        self.results[label] = {}
        for case, connections, rows in cases:
            r = self.results[label][case] = wrk(
                url, self.files["script"], self.files["single" if rows == 1 else "batch"], connections, self.seconds
            )
            say(f"{label} {case}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['errors']:.0f} errors")

    def serve(self, server: Server, cases: list[tuple[str, int, int]] = CASES) -> None:
        with running(server, self.tmp / f"{server.label}.log") as url:
            self.run(server.label, url, cases)


def balanced(bench: Bench, ours: Callable[[str, str], Server], replicas: int) -> None:
    """R replicas (one worker each) behind the local platform's balancer, components/local/loadBalancer.ts."""
    label = f"ours {replicas} replicas + local balancer"
    with ExitStack() as stack:
        ports = []
        for i in range(replicas):
            server = ours(f"replica-{i}", "1")
            stack.enter_context(running(server, bench.tmp / f"replica-{i}.log"))
            ports.append(server.port)
        port = free_port()
        command = ["node", "--import", "tsx", str(REPO / "components" / "local" / "loadBalancer.ts"), "--listen", f"127.0.0.1:{port}"]
        command += [arg for p in ports for arg in ("--upstream", f"http://127.0.0.1:{p}")]
        url = stack.enter_context(running(Server(label, command, dict(os.environ), port, REPO), bench.tmp / "balancer.log"))
        bench.run(label, url, [c for c in CASES if c[2] == 1])


def our_server(uri: str, env: dict[str, str], replica: str, workers: str, label: str = "") -> Server:
    port = free_port()
    env = {**env, "MODEL_URI": uri, "HOST": "127.0.0.1", "PORT": str(port), "REPLICA_ID": replica, "SERVING_WORKERS": workers}
    return Server(f"{label}ours workers={workers}", [sys.executable, str(REPO / "images" / "serving" / "server.py")], env, port)


def mlflow_server(uri: str, env: dict[str, str], workers: str, label: str = "") -> Server:
    port = free_port()
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "--workers", workers]
    return Server(f"{label}mlflow models serve workers={workers}", command, env, port)


XGB = "xgboost:"


def xgboost_case(bench: Bench, x: Any, y: Any, tracking_uri: str, env: dict[str, str], workers: str) -> None:
    """The pinned XGBoost from its own folder: ours with `workers` workers and `mlflow models serve`
    with 1, each checked against the model's own predictions (ours also its probabilities)."""
    folder = serve_xgboost.install(REPO)
    say(f"training and registering models:/{serve_xgboost.MODEL_NAME}@champion ({serve_xgboost.XGBOOST_REQUIREMENT} from {folder})")
    bench.model = serve_xgboost.train(x, y)
    register(bench.model, x, serve_xgboost.MODEL_NAME, tracking_uri, bench.tmp / "xgboost-artifacts", **serve_xgboost.LOG_OPTIONS)
    env = serve_xgboost.with_path(env, folder)
    uri = f"models:/{serve_xgboost.MODEL_NAME}@champion"
    ours = our_server(uri, env, "bench-xgboost", workers, f"{XGB} ")
    with running(ours, bench.tmp / "xgboost-ours.log") as url:
        batch = json.loads(bench.checks[1])
        got = answer(url, json.dumps({"params": {"predict_method": "predict_proba"}, **batch}))
        import pandas as pd

        rows = pd.DataFrame(batch["dataframe_split"]["data"], columns=bench.columns)
        expected = bench.model.predict_proba(rows)  # type: ignore[attr-defined]
        if got["predictions"] != expected.tolist() or got["classes"] != bench.model.classes_.tolist():  # type: ignore[attr-defined]
            raise RuntimeError(f"{ours.label}: predict_proba differs from the model's own for {len(rows)} rows")
        say(f"{ours.label}: {len(rows)} rows of probabilities identical to the model's own, classes {got['classes']}")
        bench.run(ours.label, url)
    bench.serve(mlflow_server(uri, env, "1", f"{XGB} "))
    labels = list(bench.answers)
    if bench.answers[labels[0]] != bench.answers[labels[1]]:
        raise RuntimeError(f"{labels[0]} and {labels[1]} returned other predictions for the same rows")


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench-serve: error: wrk not found: install it with: bash scripts/packages.sh install bench", file=sys.stderr)
        return 2
    seconds = int(os.environ.get("BENCH_SECONDS", "8"))
    workers = os.environ.get("BENCH_WORKERS", "2")
    tmp = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    try:
        tracking_uri = f"sqlite:///{tmp}/mlflow.db"
        say(f"training and registering models:/{MODEL_NAME}@champion in {tmp}")
        x, y = training_data()
        model, columns = train_and_register(tmp, tracking_uri, x, y)
        files = {"script": tmp / "post.lua", "single": tmp / "single.txt", "batch": tmp / "batch.txt"}
        files["script"].write_text(WRK_SCRIPT)
        files["single"].write_text("\n".join(request_bodies(columns, 500, 1, 11)) + "\n")
        files["batch"].write_text("\n".join(request_bodies(columns, 20, 100, 12)) + "\n")
        checks = (request_bodies(columns, 20, 1, 13), request_bodies(columns, 1, 200, 14)[0])
        base_env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        uri = f"models:/{MODEL_NAME}@champion"

        def ours(replica: str, n: str) -> Server:
            return our_server(uri, base_env, replica, n)

        def theirs(n: str) -> Server:
            return mlflow_server(uri, base_env, n)

        bench = Bench(tmp, model, columns, files, checks, seconds, {}, {})
        headline, baseline = ours("bench", workers), theirs("1")
        for server in (ours("bench", "1"), headline, baseline, theirs(workers)):
            if server.label not in bench.results:
                bench.serve(server)
        try:
            balanced(bench, ours, 2)
        except RuntimeError as err:  # the balancer is optional here: the headline is one replica direct
            say(f"skipped the 2-replica balancer case: {err}")
        reference = bench.answers[baseline.label]
        differing = [label for label, answers in bench.answers.items() if answers != reference]
        if differing:
            raise RuntimeError(f"{', '.join(differing)} returned other predictions than {baseline.label} for the same rows")
        say(f"all {len(bench.answers)} servers returned identical predictions for the same {len(reference)} rows")
        xgboost = Bench(tmp, None, columns, files, checks, seconds, {}, {})
        if os.environ.get("BENCH_XGBOOST", "1") != "0":
            xgboost_case(xgboost, x, y, tracking_uri, base_env, workers)
        print("\n| case | server | req/s | p50 ms | p99 ms | errors |\n|---|---|---:|---:|---:|---:|")
        for case, _, _ in CASES:
            for label, results in [*bench.results.items(), *xgboost.results.items()]:
                if case in results:
                    r = results[case]
                    print(f"| {case} | {label} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']:.0f} |")
        c32 = bench.results[headline.label]["c32"]
        goal = c32["p99_ms"] <= 50 and c32["errors"] == 0
        print(
            f"\n{headline.label} at c32: p99 {c32['p99_ms']:.1f} ms, {c32['errors']:.0f} errors ({'within' if goal else 'OUTSIDE'} the p99 <= 50 ms, 0 errors goal); {os.cpu_count()} cores, {seconds}s per case, load average {os.getloadavg()[0]:.1f}"
        )
        xgb_ours, xgb_theirs = (xgboost.results.get(f"{XGB} {label}", {}).get("c32") for label in (headline.label, baseline.label))
        if xgb_ours and xgb_theirs:
            print(f"xgboost_serve_c32_rps={xgb_ours['rps']:.0f} xgboost_serve_speedup_c32={xgb_ours['rps'] / xgb_theirs['rps']:.2f}")
        same = bench.results.get(theirs(workers).label, {}).get("c32")
        if same:
            print(f"serve_speedup_c32_same_workers={c32['rps'] / same['rps']:.2f}")
        print(f"serve_speedup_c32={c32['rps'] / bench.results[baseline.label]['c32']['rps']:.2f}", flush=True)
        return 0
    except RuntimeError as err:
        print(f"bench-serve: error: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
