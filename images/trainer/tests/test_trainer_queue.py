"""The shared trial queue: workers pull from one Optuna study (journal file), TPE with fold-level
pruning, and a worker killed mid-trial whose trial comes back and runs once more."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.entities import Run, ViewType
from mlflow.tracking import MlflowClient
from mlflow_testing import REPO_ROOT, TRAINER_DIR, DelayingProxy, MlflowServer, client_env, run_cli
from optuna.storages import InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from skips import skip_or_fail_in_ci
from spec import SearchSpec, ShardSpec, load_shard_spec
from tracking import tag_filter
from trialqueue import SYS_HEARTBEAT, SYS_RETRY_OF, Heartbeats, enqueue_fixed, is_surplus, queue_counts, reap_stale

TRAINER = TRAINER_DIR / "trainer.py"


def study_json(study_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": f"queue-{study_id}",
        "estimator": "random_forest",
        "scoring": "accuracy",
        "cvFolds": 3,
        "testSize": 0.25,
        "seed": 5,
        "dataset": {
            "source": "generated",
            "target": "target",
            "generate": {"rows": 600, "features": 8, "informative": 4, "classes": 2, "seed": 3},
        },
        "queue": "journal",
        **extra,
    }


def fixed(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": i, "key": f"key-{i}", "params": p} for i, p in enumerate(params)]


def write_specs(folder: Path, study: dict[str, Any], workers: int) -> None:
    for k in range(workers):
        (folder / f"shard-{k}.json").write_text(json.dumps({**study, "workerIndex": k, "workers": workers}))


def trial_runs(client: MlflowClient, study: dict[str, Any]) -> list[Run]:
    experiment = client.get_experiment_by_name(study["experimentName"])
    assert experiment is not None
    return client.search_runs(
        [experiment.experiment_id], tag_filter({"mlops.study_id": study["studyId"], "mlops.role": "trial"}), run_view_type=ViewType.ALL
    )


def start_worker(folder: Path, worker: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(TRAINER), "run", "--spec", str(folder / f"shard-{worker}.json")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


# ---------- the queue's rules, on an in-memory study ----------


def spec_for(kind: str, budget: int) -> ShardSpec:
    return ShardSpec("s", "e", "random_forest", None, "accuracy", 3, 0.2, 1, None, budget, 0, 1, (), search=SearchSpec(kind, budget, 1, {}))  # type: ignore[arg-type]


def test_a_sampled_trial_beyond_the_budget_is_surplus() -> None:
    study = optuna.create_study(storage=InMemoryStorage(), direction="maximize")
    for _ in range(3):
        study.ask()
    trials = study.get_trials(deepcopy=False)
    assert [is_surplus(t, trials, spec_for("tpe", 2)) for t in trials] == [False, False, True]
    assert is_surplus(trials[0], trials, spec_for("grid", 2))  # a fixed list never samples
    study.enqueue_trial({}, user_attrs={"mlops.trial_key": "k", "mlops.trial_index": 0, "mlops.params": "{}"})
    enqueued = study.ask()
    assert not is_surplus(study.get_trials(deepcopy=False)[enqueued.number], study.get_trials(deepcopy=False), spec_for("grid", 0))


def test_enqueue_is_idempotent_and_stale_trials_come_back_once() -> None:
    from spec import TrialSpec

    study = optuna.create_study(storage=InMemoryStorage(), direction="maximize")
    trials = (TrialSpec(0, "a", {"x": 1}), TrialSpec(1, "b", {"x": 2}))
    assert (enqueue_fixed(study, trials), enqueue_fixed(study, trials)) == (2, 0)
    dead = study.ask()
    study._storage.set_trial_system_attr(dead._trial_id, SYS_HEARTBEAT, time.time() - 100)
    lines: list[str] = []
    beats = Heartbeats(interval_seconds=1, grace_seconds=10)
    assert reap_stale(study, beats, lines.append) == 1 and reap_stale(study, beats, lines.append) == 0
    all_trials = study.get_trials(deepcopy=False)
    assert [t.state for t in all_trials] == [TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    assert all_trials[2].system_attrs[SYS_RETRY_OF] == 0 and all_trials[2].user_attrs["mlops.trial_key"] == "a"
    assert "no heartbeat for 100s" in lines[0] and "back in the queue" in lines[0]
    counts = queue_counts(all_trials, folds=3)
    assert (counts.failed, counts.waiting) == (0, 2)  # the dead attempt is not a result; its retry waits


# ---------- real workers, real MLflow ----------

POSTGRES = REPO_ROOT / "scripts" / "services" / "postgres.sh"


@pytest.fixture(scope="module")
def postgres_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """postgres.sh's state folder (it holds the superuser's password file)."""
    return tmp_path_factory.mktemp("pg")


@pytest.fixture(scope="module")
def postgres_url(postgres_dir: Path) -> Iterator[str]:
    """A real PostgreSQL (scripts/services/postgres.sh, own state folder) with a fresh database for
    Optuna's tables: the docker/kubernetes stacks hand their PostgreSQL to the workers this way."""
    env = {**os.environ, "MLOPS_SERVICES_DIR": str(postgres_dir)}
    started = subprocess.run(["bash", str(POSTGRES), "start"], env=env, capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        skip_or_fail_in_ci("PostgreSQL queue test", f"postgres.sh start failed: {started.stderr.strip().splitlines()[-1:]}")
    try:
        database = f"optuna_{uuid.uuid4().hex[:8]}"
        subprocess.run(["bash", str(POSTGRES), "fresh-database", database], env=env, capture_output=True, check=True, timeout=60)
        url = subprocess.run(["bash", str(POSTGRES), "url"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        yield url.rsplit("/", 1)[0] + "/" + database
    finally:
        subprocess.run(["bash", str(POSTGRES), "stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture(params=["journal", "postgres"])
def queue_storage(request: pytest.FixtureRequest) -> str:
    """ "journal" (the local platform's file), or an RDB URL (MLOPS_OPTUNA_STORAGE)."""
    return "journal" if request.param == "journal" else str(request.getfixturevalue("postgres_url"))


def load_queue(folder: Path, study_id: str, storage: str) -> optuna.Study:
    backend = JournalStorage(JournalFileBackend(str(folder / f"optuna-{study_id}.journal"))) if storage == "journal" else storage
    return optuna.load_study(study_name=study_id, storage=backend)


def test_tpe_with_median_pruning_spends_the_budget_and_records_pruned_trials(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    space = {
        "n_estimators": {"type": "int", "low": 2, "high": 30, "step": 1, "log": False},
        "max_depth": {"values": [1, 2, 12]},
        "max_features": {"values": [1, "sqrt"]},
    }
    study = study_json(
        f"q-{uuid.uuid4().hex[:8]}",
        totalTrials=12,
        trials=[],
        search={"kind": "tpe", "budget": 12, "seed": 11, "space": space},
        pruning={"kind": "median", "afterFolds": 1, "warmupTrials": 2},
        cvFolds=4,
    )
    write_specs(tmp_path, study, 1)
    env = client_env(mlflow_server.url)
    assert run_cli(TRAINER, ["prepare", "--spec", str(tmp_path / "shard-0.json")], env).returncode == 0
    result = run_cli(TRAINER, ["run", "--spec", str(tmp_path / "shard-0.json")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    storage = JournalStorage(JournalFileBackend(str(tmp_path / f"optuna-{study['studyId']}.journal")))
    trials = optuna.load_study(study_name=study["studyId"], storage=storage).get_trials()
    states = Counter(t.state for t in trials)
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == 12 and states[TrialState.PRUNED] >= 1, states
    runs = trial_runs(MlflowClient(mlflow_server.url), study)
    pruned = [r for r in runs if r.data.tags.get("mlops.pruned") == "true"]
    assert len(pruned) == states[TrialState.PRUNED]
    for run in pruned:
        done = int(run.data.tags["mlops.pruned_at_fold"])
        assert run.info.status == "KILLED" and 1 <= done < 4
        assert "cv_accuracy_mean" not in run.data.metrics and run.data.metrics["cv_folds_completed"] == done
        folds = [run.data.metrics[f"cv_accuracy_fold_{k}"] for k in range(done)]
        assert run.data.metrics["cv_accuracy_partial_mean"] == pytest.approx(sum(folds) / done)
        assert f"cv_accuracy_fold_{done}" not in run.data.metrics
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert all(r.data.tags["mlops.pruned"] == "false" and "cv_accuracy_mean" in r.data.metrics for r in finished)
    assert "PRUNED after fold" in result.stdout
    client = MlflowClient(mlflow_server.url)
    parent = client.search_runs([runs[0].info.experiment_id], tag_filter({"mlops.study_id": study["studyId"], "mlops.role": "study"}))[0]
    m = parent.data.metrics
    assert (m["progress_finished"], m["progress_pruned"], m["progress_failed"], m["progress_budget"]) == (
        states[TrialState.COMPLETE],
        states[TrialState.PRUNED],
        0,
        12,
    )
    assert m["progress_fold_fits"] < 12 * 4  # pruning saved fold fits
    best = max((r for r in finished), key=lambda r: r.data.metrics["cv_accuracy_mean"])
    assert m["best_cv_mean"] == pytest.approx(best.data.metrics["cv_accuracy_mean"])
    assert parent.data.tags["mlops.best_trial_key"] in {
        r.data.tags["mlops.trial_key"] for r in finished if r.data.metrics["cv_accuracy_mean"] == best.data.metrics["cv_accuracy_mean"]
    }
    plots = {a.path: a.file_size for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert set(plots) == {"plots/optimization_history.png", "plots/score_per_parameter.png"} and all(
        size and size > 5000 for size in plots.values()
    )
    # Rerun: the study resumes and is spent, nothing trains again.
    again = run_cli(TRAINER, ["run", "--spec", str(tmp_path / "shard-0.json")], env)
    assert again.returncode == 0 and "trained 0, skipped 0, pruned 0, failed 0" in again.stdout


def test_a_worker_killed_mid_trial_loses_and_duplicates_nothing(mlflow_server: MlflowServer, tmp_path: Path, queue_storage: str) -> None:
    params = [{"n_estimators": 120, "max_depth": d} for d in (2, 3, 4, 5, 6, 7)]
    study = study_json(
        f"q-{uuid.uuid4().hex[:8]}", totalTrials=6, trials=fixed(params), queue="journal" if queue_storage == "journal" else "rdb"
    )
    write_specs(tmp_path, study, 2)
    env = {**client_env(mlflow_server.url), "MLOPS_HEARTBEAT_SECONDS": "1", "MLOPS_HEARTBEAT_GRACE_SECONDS": "5"}
    if queue_storage != "journal":
        env["MLOPS_OPTUNA_STORAGE"] = queue_storage
        # A shard spec must not feed a shared study: only part of the list would be enqueued.
        sharded = tmp_path / "sharded.json"
        sharded.write_text(json.dumps({**study, "queue": "shard", "workerIndex": 0, "workers": 2}))
        refused = run_cli(TRAINER, ["prepare", "--spec", str(sharded)], env)
        assert refused.returncode == 2 and 'plan the study with queue "rdb"' in refused.stderr
    prepared = run_cli(TRAINER, ["prepare", "--spec", str(tmp_path / "shard-0.json")], env)
    assert prepared.returncode == 0 and "6 trials enqueued" in prepared.stdout, prepared.stdout + prepared.stderr
    client = MlflowClient(mlflow_server.url)
    workers = [start_worker(tmp_path, k, env, tmp_path / f"worker-{k}.log") for k in (0, 1)]
    try:
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            running = [r for r in trial_runs(client, study) if r.info.status == "RUNNING" and r.data.tags.get("mlops.worker_index") == "1"]
            victim = running[0] if running else None
            time.sleep(0.2)
        assert victim is not None, (tmp_path / "worker-1.log").read_text()
        os.kill(workers[1].pid, signal.SIGKILL)
        assert workers[1].wait(10) == -signal.SIGKILL
        assert workers[0].wait(300) == 0, (tmp_path / "worker-0.log").read_text()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    runs = trial_runs(client, study)
    live = [r for r in runs if r.info.lifecycle_stage == "active"]
    finished = Counter(r.data.tags["mlops.trial_key"] for r in live if r.info.status == "FINISHED")
    assert finished == Counter({f"key-{i}": 1 for i in range(6)}), [(r.data.tags["mlops.trial_key"], r.info.status) for r in runs]
    assert len(live) == 6  # the killed attempt's run was resumed, not duplicated
    assert [r.info.status for r in live if r.info.run_id == victim.info.run_id] == ["FINISHED"]
    log0 = (tmp_path / "worker-0.log").read_text()
    assert "its worker is gone; back in the queue" in log0 and f"resuming run {victim.info.run_id}" in log0
    trials = load_queue(tmp_path, study["studyId"], queue_storage).get_trials()
    counts = queue_counts(trials, 3)
    assert (counts.finished, counts.failed, counts.running, counts.waiting) == (6, 0, 0, 0)
    assert sum(1 for t in trials if SYS_RETRY_OF in t.system_attrs) == 1


def test_a_worker_killed_while_a_trial_records_in_the_background_loses_nothing(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """A worker records a fitted trial (model upload, metrics, FINISHED, tell) on a background thread
    while it fits the next one. Killed with both in flight, neither is lost nor finished twice."""
    params = [{"n_estimators": 40, "max_depth": d} for d in (2, 3, 4, 5)]
    study = study_json(f"q-{uuid.uuid4().hex[:8]}", totalTrials=4, trials=fixed(params))
    write_specs(tmp_path, study, 2)
    env = {**client_env(mlflow_server.url), "MLOPS_HEARTBEAT_SECONDS": "1", "MLOPS_HEARTBEAT_GRACE_SECONDS": "5"}
    prepared = run_cli(TRAINER, ["prepare", "--spec", str(tmp_path / "shard-0.json")], env)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    client = MlflowClient(mlflow_server.url)
    # Worker 1's model uploads are held for a minute: its first fitted trial stays in recording.
    with DelayingProxy(mlflow_server.url, r"/model\.pkl$", 60) as slow:
        victim_env = {**env, "MLFLOW_TRACKING_URI": slow.url}
        victim = start_worker(tmp_path, 1, victim_env, tmp_path / "worker-1.log")
        survivor = start_worker(tmp_path, 0, env, tmp_path / "worker-0.log")
        try:
            in_flight: list[Run] = []
            deadline = time.monotonic() + 120
            # Kill once a model upload is held and the next trial has started beside it.
            while not (slow.held and len(in_flight) == 2) and time.monotonic() < deadline:
                in_flight = [
                    r for r in trial_runs(client, study) if r.info.status == "RUNNING" and r.data.tags.get("mlops.worker_index") == "1"
                ]
                time.sleep(0.2)
            assert slow.held and len(in_flight) == 2, (tmp_path / "worker-1.log").read_text()
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(10) == -signal.SIGKILL
            assert survivor.wait(300) == 0, (tmp_path / "worker-0.log").read_text()
        finally:
            for proc in (victim, survivor):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    live = [r for r in trial_runs(client, study) if r.info.lifecycle_stage == "active"]
    finished = Counter(r.data.tags["mlops.trial_key"] for r in live if r.info.status == "FINISHED")
    assert finished == Counter({f"key-{i}": 1 for i in range(4)}), [(r.data.tags["mlops.trial_key"], r.info.status) for r in live]
    assert {r.info.run_id for r in in_flight} <= {r.info.run_id for r in live if r.info.status == "FINISHED"}
    log0 = (tmp_path / "worker-0.log").read_text()
    assert all(f"resuming run {r.info.run_id}" in log0 for r in in_flight), log0
    counts = queue_counts(load_queue(tmp_path, study["studyId"], "journal").get_trials(), 3)
    assert (counts.finished, counts.failed, counts.running, counts.waiting) == (4, 0, 0, 0)


def test_spec_reads_search_pruning_and_queue(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                **study_json("s1", totalTrials=0, trials=[]),
                "search": {"kind": "tpe", "budget": 9, "seed": 2, "space": {"C": {"type": "float", "low": 0.1, "high": 1}}},
                "pruning": {"kind": "percentile", "afterFolds": 2, "warmupTrials": 3, "percentile": 40},
            }
        )
    )
    spec = load_shard_spec(str(path))
    assert (spec.queue, spec.search.kind if spec.search else None, spec.search.budget if spec.search else None) == ("journal", "tpe", 9)
    assert (spec.pruning.kind, spec.pruning.after_folds, spec.pruning.warmup_trials, spec.pruning.percentile) == ("percentile", 2, 3, 40.0)
    path.write_text(
        json.dumps({**study_json("s1", totalTrials=0, trials=[]), "pruning": {"kind": "sometimes", "afterFolds": 1, "warmupTrials": 0}})
    )
    from spec import SpecError

    with pytest.raises(SpecError, match=r"key 'pruning.kind': expected one of none, median, percentile"):
        load_shard_spec(str(path))


# ---------- the queue's own database on the stack's PostgreSQL ----------


def test_the_queue_database_is_created_once_and_a_role_without_createdb_is_told_what_to_do(postgres_url: str, postgres_dir: Path) -> None:
    """docker hands the workers MLOPS_OPTUNA_STORAGE=postgresql://<role>@<host>/optuna with PGPASSWORD
    beside it: the first worker creates `optuna` from MLflow's database (MLOPS_OPTUNA_CREATE_FROM), as that role."""
    import psycopg2
    from optuna.storages import RDBStorage
    from optunadb import DatabaseSetupError, ensure_database
    from sqlalchemy.engine import make_url

    parsed = make_url(postgres_url)
    role, home = parsed.username, parsed.database
    superuser = (postgres_dir / "postgres" / "superuser-password").read_text().strip()
    admin = psycopg2.connect(host=parsed.host, port=parsed.port, user="postgres", password=superuser, dbname="postgres")
    admin.autocommit = True
    names = [f"optuna_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    url = lambda name: parsed.set(database=name, password=None).render_as_string(hide_password=False)  # noqa: E731
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = str(parsed.password)  # as the containers get it: beside the URL, not in it
    try:
        with admin.cursor() as cur:
            cur.execute(f'ALTER ROLE "{role}" CREATEDB')
        assert ensure_database(url(names[0]), create_from=home) is True
        assert ensure_database(url(names[0]), create_from=home) is False
        optuna.create_study(storage=RDBStorage(url(names[0])), study_name="s")  # Optuna's tables fit in it
        with admin.cursor() as cur:
            cur.execute(f'ALTER ROLE "{role}" NOCREATEDB')
        with pytest.raises(
            DatabaseSetupError,
            match=rf"role {role} may not create it: grant it CREATEDB .* or create it beforehand \(CREATE DATABASE {names[1]} OWNER {role}\)",
        ):
            ensure_database(url(names[1]), create_from=home)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER ROLE "{role}" NOCREATEDB')
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved


# ---------- several workers sampling one study; a queue MLflow never saw ----------


def test_each_worker_samples_with_its_own_seed_and_worker_0_keeps_the_configs(tmp_path: Path) -> None:
    """One seed in every worker would make W workers sample the same startup trials W times over."""
    from optuna.distributions import IntDistribution
    from trialqueue import open_study

    space = {"n_estimators": {"type": "int", "low": 1, "high": 10_000, "step": 1, "log": False}}
    study = study_json("seeds", totalTrials=4, trials=[], search={"kind": "tpe", "budget": 4, "seed": 11, "space": space})
    write_specs(tmp_path, study, 2)

    def first_samples(worker: int) -> list[int]:
        queue = open_study(InMemoryStorage(), load_shard_spec(str(tmp_path / f"shard-{worker}.json")))
        return [int(queue.ask({"n": IntDistribution(1, 10_000)}).params["n"]) for _ in range(3)]

    assert first_samples(0) == first_samples(0)  # reproducible
    assert first_samples(0) != first_samples(1)


def test_a_queue_whose_study_mlflow_never_saw_starts_afresh(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """A spent queue (journal) beside an MLflow that lost the study (its store was replaced) would
    hand out nothing and leave select with no run; prepare starts the queue again instead."""
    study = study_json(
        f"q-{uuid.uuid4().hex[:8]}",
        totalTrials=2,
        trials=fixed([{"n_estimators": 3}, {"n_estimators": 5}]),
        search={"kind": "grid", "budget": 2, "seed": 5},
        cvFolds=2,
    )
    env = client_env(mlflow_server.url)
    for experiment in ("first", "second"):  # a new experiment stands for an MLflow without the study run
        write_specs(tmp_path, {**study, "experimentName": f"{study['experimentName']}-{experiment}"}, 1)
        prepared = run_cli(TRAINER, ["prepare", "--spec", str(tmp_path / "shard-0.json")], env)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
        assert ("starting the queue afresh" in prepared.stdout) == (experiment == "second")
        result = run_cli(TRAINER, ["run", "--spec", str(tmp_path / "shard-0.json")], env)
        assert result.returncode == 0 and "trained 2, skipped 0, pruned 0, failed 0" in result.stdout, result.stdout + result.stderr
