"""`.venv/bin/python bench/authBench.py`: what MLflow basic auth costs a training run (issue 11, item 5).

The real trainer runs the same trials (logistic regression, 3-fold CV, 2,000 generated rows) against a
throwaway `mlflow server` three ways: auth off; auth on with MLflow's own check (a scrypt hash per check,
several checks per request); and auth on with the cached check the pipeline configures
(images/mlflow/mlops_mlflow_auth.py). With auth on the trainer logs in as a non-admin user with EDIT on
the study's experiment, as the pipeline's training user does. Rounds alternate the cases so a busy
machine hurts each alike. Each case reports its best wall time and the CPU seconds the trainer and the
MLflow server spent (CPU time is what auth adds; on a busy machine it is also the steadier number). The
last line is `auth_overhead_ratio=<cached auth / auth off>`, the median over rounds of the paired wall
time ratios (goal: at most 1.10).

BENCH_AUTH_TRIALS (default 8) and BENCH_AUTH_ROUNDS (default 2) size it; BENCH_AUTH_SKIP_UNCACHED=1
skips the slow case with MLflow's own check.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
TRAINER = REPO / "images" / "trainer" / "trainer.py"
sys.path.insert(0, str(REPO / "python" / "testing"))

from mlflow_testing import MlflowServer, client_env  # noqa: E402

TRIALS = int(os.environ.get("BENCH_AUTH_TRIALS", "8"))
ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "2"))
USER = "bench-training"
CACHED = "mlops_mlflow_auth:authenticate_request_basic_auth_cached"
DEFAULT = "mlflow.server.auth:authenticate_request_basic_auth"


@dataclass
class AuthServer(MlflowServer):
    """MlflowServer with a choice of auth check; the cached one is imported from images/mlflow."""

    auth_function: str = DEFAULT

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.admin:
            ini = self.root / "basic_auth.ini"
            ini.write_text(ini.read_text().replace(f"authorization_function = {DEFAULT}", f"authorization_function = {self.auth_function}"))
            env["PYTHONPATH"] = str(REPO / "images" / "mlflow")
        return env


def spec(study_id: str, experiment: str) -> dict[str, object]:
    return {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": experiment,
        "estimator": "logistic_regression",
        "scoring": "accuracy",
        "cvFolds": 3,
        "testSize": 0.25,
        "seed": 1,
        "dataset": {
            "source": "generated",
            "target": "target",
            "generate": {"rows": 2000, "features": 10, "informative": 5, "classes": 2, "seed": 3},
        },
        "totalTrials": TRIALS,
        "workerIndex": 0,
        "workers": 1,
        "trials": [{"index": i, "key": f"trial-{i}", "params": {"C": 0.05 * (i + 1)}} for i in range(TRIALS)],
    }


def grant_training_user(server: AuthServer, experiment: str, password: str) -> None:
    """As the pipeline's driver does: the user, the experiment, EDIT on it (MLflow's auth REST API)."""
    assert server.admin
    api = f"{server.url}/api/2.0/mlflow"
    admin = requests.Session()
    admin.auth = server.admin
    if admin.get(f"{api}/users/get", params={"username": USER}).status_code == 404:
        admin.post(f"{api}/users/create", json={"username": USER, "password": password}).raise_for_status()
    found = admin.get(f"{api}/experiments/get-by-name", params={"experiment_name": experiment})
    experiment_id = (
        found.json()["experiment"]["experiment_id"]
        if found.ok
        else admin.post(f"{api}/experiments/create", json={"name": experiment}).json()["experiment_id"]
    )
    admin.post(
        f"{api}/experiments/permissions/create", json={"experiment_id": experiment_id, "username": USER, "permission": "EDIT"}
    ).raise_for_status()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in a process group (the server and its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12 (after the name)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_trials(server: MlflowServer, folder: Path, password: str | None) -> tuple[float, float]:
    """Wall seconds of `trainer.py run` for TRIALS trials of a fresh study (prepare is not timed), and
    the CPU seconds the trainer and the server spent meanwhile."""
    study_id = f"bench-auth-{uuid.uuid4().hex[:8]}"
    experiment = f"bench-auth-{study_id}"
    spec_file = folder / f"{study_id}.json"
    spec_file.write_text(json.dumps(spec(study_id, experiment)))
    env = {**client_env(server.url), "OMP_NUM_THREADS": "1"}
    if password is not None and isinstance(server, AuthServer):
        grant_training_user(server, experiment, password)
        env |= {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": password}
    trainer = [sys.executable, str(TRAINER)]
    subprocess.run([*trainer, "prepare", "--spec", str(spec_file)], env=env, check=True, capture_output=True)
    assert server.process is not None
    cpu_before = children_cpu_seconds() + group_cpu_seconds(server.process.pid)
    started = time.monotonic()
    done = subprocess.run([*trainer, "run", "--spec", str(spec_file)], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    cpu = children_cpu_seconds() + group_cpu_seconds(server.process.pid) - cpu_before
    if done.returncode != 0:
        raise SystemExit(f"bench-auth: the trainer failed:\n{done.stdout}\n{done.stderr}")
    return seconds, cpu


def main() -> None:
    password = f"bench-{secrets.token_hex(12)}"
    cases: dict[str, tuple[MlflowServer, str | None]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        root = Path(tmp)
        admin = ("admin", f"admin-{secrets.token_hex(12)}")
        cases["auth off"] = (MlflowServer(root / "off"), None)
        cases["auth on, cached check"] = (AuthServer(root / "cached", admin=admin, auth_function=CACHED), password)
        if os.environ.get("BENCH_AUTH_SKIP_UNCACHED") != "1":
            cases["auth on, MLflow's own check"] = (AuthServer(root / "uncached", admin=admin, auth_function=DEFAULT), password)
        try:
            for server, _ in cases.values():
                server.start()
            walls: dict[str, list[float]] = {name: [] for name in cases}
            cpus: dict[str, list[float]] = {name: [] for name in cases}
            for r in range(ROUNDS):
                for name, (server, pw) in cases.items():
                    seconds, cpu = run_trials(server, root, pw)
                    print(f"round {r + 1}: {name}: {seconds:.1f} s wall, {cpu:.1f} s CPU for {TRIALS} trials", flush=True)
                    walls[name].append(seconds)
                    cpus[name].append(cpu)
        finally:
            for server, _ in cases.values():
                server.stop()
    off_wall, off_cpu = min(walls["auth off"]), statistics.median(cpus["auth off"])
    print(
        f"| case ({TRIALS} trials, {ROUNDS} rounds) | best wall | per trial | vs auth off | median CPU (trainer + server) | vs auth off |"
    )
    print("|---|---|---|---|---|---|")
    for name in cases:
        wall, cpu = min(walls[name]), statistics.median(cpus[name])
        print(f"| {name} | {wall:.1f} s | {wall / TRIALS:.2f} s | {wall / off_wall:.2f}x | {cpu:.1f} s | {cpu / off_cpu:.2f}x |")
    cached = "auth on, cached check"
    paired = statistics.median(on / off for on, off in zip(walls[cached], walls["auth off"], strict=True))
    print(f"auth_cpu_ratio={statistics.median(cpus[cached]) / off_cpu:.3f}")
    print(f"auth_overhead_ratio={paired:.3f}")


if __name__ == "__main__":
    main()
