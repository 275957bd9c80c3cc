"""`make bench-search`: what the shared trial queue and fold-level pruning buy (issue 12, item 6).

(a) Parallel efficiency: the same 12 random-forest trials (5-fold, 4,000 generated rows) run by the
    real trainer on 1 worker and then on 2 workers pulling from one journal queue, as the local
    platform runs them, against a throwaway `mlflow server`; prints `train_speedup_2w=` and the share
    of trial time the workers spent in MLflow calls.
(b) Search quality per cost on scikit-learn's breast-cancer data and a 135-point grid: grid vs TPE vs
    TPE + median pruning, each's best CV mean and the fold fits it spent, in-process with the
    trainer's own evaluation and queue code; the last line is `search_fold_fit_ratio=`.

BENCH_SEARCH_PART=a|b runs one part only. Run it on an otherwise idle machine: (a) measures cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAINER_DIR = REPO / "images" / "trainer"
sys.path[:0] = [str(TRAINER_DIR), str(REPO / "python" / "testing")]

import optuna  # noqa: E402
from dataset import DataSplit, split_dataset  # noqa: E402
from evaluation import Stopped, evaluate  # noqa: E402
from modelspec import resolve_model  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from spec import DatasetSpec, GenerateSpec, PruningSpec, SearchSpec, ShardSpec  # noqa: E402
from trialqueue import open_study, suggest_params  # noqa: E402
from worker import report_fold  # noqa: E402

FOLDS = 5
SCORING = "f1_macro"
FOREST = resolve_model("random_forest", None)


# ---------- (a) one worker vs two on the shared queue ----------

PARALLEL_GRID = [
    {"n_estimators": n, "max_depth": d, "min_samples_leaf": leaf} for n in (50, 100, 200) for d in (8, None) for leaf in (1, 4)
]


def parallel_spec(study_id: str, workers: int, worker: int) -> dict[str, object]:
    return {
        "schemaVersion": 1,
        "studyId": study_id,
        "experimentName": "bench-search",
        "estimator": "random_forest",
        "scoring": SCORING,
        "cvFolds": FOLDS,
        "testSize": 0.2,
        "seed": 42,
        "dataset": {
            "source": "generated",
            "target": "target",
            "generate": {"rows": 4000, "features": 20, "informative": 8, "classes": 2, "seed": 7},
        },
        "totalTrials": len(PARALLEL_GRID),
        "search": {"kind": "grid", "budget": len(PARALLEL_GRID), "seed": 42},
        "queue": "journal",
        "workerIndex": worker,
        "workers": workers,
        "trials": [{"index": i, "key": f"bench-{i}", "params": p} for i, p in enumerate(PARALLEL_GRID)],
    }


def run_study(folder: Path, env: dict[str, str], workers: int) -> tuple[float, float]:
    """(wall seconds of the workers, mean share of their time they waited on MLflow calls)."""
    study_id = f"bench-{workers}w-{uuid.uuid4().hex[:6]}"
    study_dir = folder / study_id
    study_dir.mkdir()
    for k in range(workers):
        (study_dir / f"shard-{k}.json").write_text(json.dumps(parallel_spec(study_id, workers, k)))
    trainer = [sys.executable, str(TRAINER_DIR / "trainer.py")]
    subprocess.run([*trainer, "prepare", "--spec", str(study_dir / "shard-0.json")], env=env, check=True, capture_output=True)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [*trainer, "run", "--spec", str(study_dir / f"shard-{k}.json")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(workers)
    ]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.monotonic() - started
    if any(p.returncode != 0 for p in procs):
        raise SystemExit(f"bench-search: a worker failed:\n{outputs}")
    found = [worker_report(out, workers, k) for k, out in enumerate(outputs)]
    for k, m in enumerate(found):
        print(
            f"    {workers} worker(s), worker {k}: MLflow calls {m['calls']}% of its time (most in: {m['slowest']}), waited on them {m['waited']}%"
        )
    waited = [float(m["waited"]) / 100 for m in found]
    return wall, sum(waited) / len(waited)


#: The worker's last line (trainer.py): its time in MLflow calls on any thread, and what it waited for.
_WORKER_REPORT = re.compile(
    r"\((?P<calls>[\d.]+)% of the time since[^;]*; (?P<slowest>[^)]*)\); waited on MLflow [\d.]+s \((?P<waited>[\d.]+)%"
)


def worker_report(output: str, workers: int, worker: int) -> re.Match[str]:
    """Worker `worker`'s report line; the benchmark fails, showing the worker's last lines, when it is missing:
    a changed report format must not read as 0% time waiting on MLflow."""
    found = _WORKER_REPORT.search(output)
    if found is None:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise SystemExit(
            f"bench-search: worker {worker} of {workers} printed no report that _WORKER_REPORT matches (did trainer.py's last line change?); its last lines:\n{tail}"
        )
    return found


def parallel_part() -> None:
    from mlflow_testing import MlflowServer, client_env

    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        server = MlflowServer(Path(tmp) / "mlflow").start()
        try:
            env = {**client_env(server.url), "OMP_NUM_THREADS": "1"}
            one, share1 = run_study(Path(tmp), env, 1)
            two, share2 = run_study(Path(tmp), env, 2)
        finally:
            server.stop()
    print(
        f"(a) {len(PARALLEL_GRID)} random-forest trials, {FOLDS}-fold, 4000 rows: 1 worker {one:.1f}s, 2 workers {two:.1f}s (goal: >= 1.8x)"
    )
    print(f"    share of worker time waiting on MLflow: {share1:.1%} (1 worker), {share2:.1%} (2 workers) (goal: <= 5%)")
    print(f"train_speedup_2w={one / two:.2f}")


# ---------- (b) grid vs TPE vs TPE + pruning ----------

SPACE = {"n_estimators": [10, 30, 60], "max_depth": [1, 2, 4, 8, None], "min_samples_leaf": [1, 4, 16], "max_features": ["sqrt", 0.5, 1.0]}


def breast_cancer_split() -> DataSplit:
    frame = load_breast_cancer(as_frame=True).frame
    return split_dataset(frame, DatasetSpec("sklearn:breast_cancer", "target", GenerateSpec(2, 1, 1, 2, None, 0)), 0.2, 42)


def grid(split: DataSplit) -> tuple[float, int, int]:
    names = sorted(SPACE)
    combos: list[dict[str, object]] = [{}]
    for name in names:
        combos = [{**c, name: v} for c in combos for v in SPACE[name]]
    best = max(evaluate(FOREST.build(c, 42), split, SCORING, FOLDS, 42)[0].cv_mean for c in combos)
    return best, len(combos) * FOLDS, len(combos)


def tpe(split: DataSplit, trials: int, pruning: PruningSpec) -> tuple[float, int, int]:
    spec = ShardSpec(
        "bench",
        "bench",
        "random_forest",
        None,
        SCORING,
        FOLDS,
        0.2,
        42,
        None,
        trials,
        0,
        1,
        (),
        search=SearchSpec("tpe", trials, 7, {k: {"values": v} for k, v in SPACE.items()}),
        pruning=pruning,
    )  # type: ignore[arg-type]
    study = open_study(optuna.storages.InMemoryStorage(), spec)
    fits = 0
    for _ in range(trials):
        trial = study.ask()
        params = suggest_params(trial, spec.search.space if spec.search else {})

        def after_fold(fold: int, mean: float, score: float, trial: optuna.Trial = trial) -> bool:
            report_fold(trial, pruning.kind == "wilcoxon", fold, mean, score)
            return trial.should_prune()

        try:
            scores, _ = evaluate(FOREST.build(params, 42), split, SCORING, FOLDS, 42, after_fold)
            fits += FOLDS
            study.tell(trial, scores.cv_mean)
        except Stopped as stopped:
            fits += len(stopped.fold_scores)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return study.best_value, fits, trials


def quality_part() -> None:
    split = breast_cancer_split()
    rows = [("grid", *grid(split))]
    rows.append(("tpe", *tpe(split, 40, PruningSpec())))
    rows.append(("tpe + median pruning", *tpe(split, 60, PruningSpec("median", after_folds=1, warmup_trials=5))))
    # Optuna's pruner for k-fold CV: each fold's score against the best trial's, fold by fold.
    rows.append(("tpe + Wilcoxon pruning", *tpe(split, 60, PruningSpec("wilcoxon", after_folds=2))))
    grid_best, grid_fits = rows[0][1], rows[0][2]
    print(f"(b) breast cancer (scikit-learn), random forest, a {rows[0][3]}-point grid, {FOLDS}-fold {SCORING}:")
    print("| search | trials | best CV mean | gap to grid | fold fits | share of grid's fits |")
    print("|---|---|---|---|---|---|")
    for name, best, fits, trials in rows:
        print(f"| {name} | {trials} | {best:.4f} | {grid_best - best:+.4f} | {fits} | {fits / grid_fits:.0%} |")
    print(f"search_fold_fit_ratio={rows[2][2] / grid_fits:.3f}")


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    part = os.environ.get("BENCH_SEARCH_PART", "ab")
    if "a" in part:
        parallel_part()
    if "b" in part:
        quality_part()
