"""Bring your own model (issue 20) without a server: any estimator, regression, declared features,
groups, WilcoxonPruner, and the `check` preflight with every bad input it must name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from byom_code import user_code
from check import preflight
from dataset import DatasetError, DataSplit, load_frame, split_dataset
from evaluation import Stopped, cv_splitter, evaluate
from features import with_features
from mlflow_testing import TRAINER_DIR, client_env, run_cli
from modelspec import FactoryFailed, ModelError, resolve_model, study_task
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from spec import DatasetSpec, FeaturesSpec, GenerateSpec, PruningSpec, load_shard_spec
from trialqueue import open_study, pruner
from worker import report_fold

GEN = GenerateSpec(rows=240, features=6, informative=3, classes=2, weights=None, seed=7)
SEED = 42


def regression_csv(path: Path, rows: int = 300) -> Path:
    x, y = make_regression(n_samples=rows, n_features=5, n_informative=3, noise=15.0, random_state=3)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame["y"] = y
    frame.to_csv(path, index=False)
    return path


def tabular_csv(path: Path, rows: int = 400, classes: int = 3) -> Path:
    """Two numeric columns with gaps, two string columns with gaps, an id to drop, a class label."""
    rng = np.random.default_rng(5)
    size = rng.normal(size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    shape = rng.choice(["round", "square"], size=rows)
    score = size + (colour == "red") * 1.5 - (shape == "square")
    label = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    frame = pd.DataFrame(
        {"id": range(rows), "size": size, "weight": rng.normal(size=rows), "colour": colour, "shape": shape, "label": label}
    )
    frame.loc[::9, "size"] = np.nan
    frame.loc[::11, "colour"] = None
    frame.loc[::13, "shape"] = None
    frame.to_csv(path, index=False)
    return path


TABULAR_FEATURES = {"numeric": ["size", "weight"], "categorical": ["colour", "shape"], "drop": ["id"]}


def spec_json(source: str, target: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schemaVersion": 1,
        "studyId": "byom-0123456789",
        "experimentName": "byom",
        "estimator": "sklearn.linear_model.Ridge",
        "scoring": "neg_root_mean_squared_error",
        "cvFolds": 3,
        "testSize": 0.25,
        "seed": SEED,
        "dataset": {
            "source": source,
            "target": target,
            "generate": {"rows": 240, "features": 6, "informative": 3, "classes": 2, "seed": 7},
        },
        "totalTrials": 2,
        "search": {"kind": "grid", "budget": 2, "seed": SEED},
        "trials": [{"index": 0, "key": "k0", "params": {"alpha": 1.0}}, {"index": 1, "key": "k1", "params": {"alpha": 10.0}}],
    }
    spec.update(overrides)
    return spec


def write_spec(folder: Path, spec: dict[str, Any]) -> str:
    path = folder / "study.json"
    path.write_text(json.dumps(spec))
    return str(path)


def problems(folder: Path, spec: dict[str, Any]) -> dict[str, str]:
    result = preflight(write_spec(folder, spec))
    assert result["ok"] is False, result
    return {p["key"]: p["message"] for p in result["problems"]}


# ---------- (a) regression: the same folds and scores as GridSearchCV ----------


def test_regression_cv_means_equal_gridsearchcv_with_kfold(tmp_path: Path) -> None:
    dataset = DatasetSpec(str(regression_csv(tmp_path / "r.csv")), "y", GEN)
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="regression", folds=4)
    model = resolve_model("sklearn.linear_model.Ridge", None)
    alphas = [0.01, 1.0, 30.0, 1000.0]
    means = [evaluate(model.build({"alpha": a}, SEED), split, "neg_root_mean_squared_error", 4, SEED, task="regression")[0] for a in alphas]
    grid = GridSearchCV(
        Ridge(random_state=SEED), {"alpha": alphas}, scoring="neg_root_mean_squared_error", cv=KFold(4, shuffle=True, random_state=SEED)
    )
    grid.fit(split.x_train, split.y_train)
    assert [s.cv_mean for s in means] == pytest.approx(list(grid.cv_results_["mean_test_score"]), abs=1e-9)
    assert max(range(len(alphas)), key=lambda i: means[i].cv_mean) == grid.best_index_
    assert all(set(s.test_extra) == {"test_r2", "test_rmse"} and s.test_extra["test_rmse"] > 0 for s in means)
    assert means[0].test_score == pytest.approx(-means[0].test_extra["test_rmse"])  # the same RMSE, the scorer's sign


def test_folds_follow_the_task_and_the_groups() -> None:
    assert type(cv_splitter("classification", 3, 1, False)) is StratifiedKFold
    assert type(cv_splitter("regression", 3, 1, False)) is KFold
    assert type(cv_splitter("classification", 3, 1, True)) is StratifiedGroupKFold
    assert type(cv_splitter("regression", 3, 1, True)) is GroupKFold


def test_groups_never_leak_across_the_split_or_the_folds(tmp_path: Path) -> None:
    path = regression_csv(tmp_path / "g.csv", rows=240)
    frame = pd.read_csv(path)
    frame["site"] = np.arange(len(frame)) % 24
    frame.to_csv(path, index=False)
    dataset = DatasetSpec(str(path), "y", GEN, group_column="site")
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="regression", folds=3)
    test_sites = set(load_frame(dataset).loc[split.x_test.index, "site"])
    assert split.groups_train is not None and not set(split.groups_train) & test_sites
    assert "site" not in split.x_train.columns
    for train_rows, test_rows in cv_splitter("regression", 3, SEED, True).split(split.x_train, split.y_train, split.groups_train):
        assert not set(split.groups_train.iloc[train_rows]) & set(split.groups_train.iloc[test_rows])
    with pytest.raises(DatasetError, match="3 groups in the train split, fewer than the 5 CV folds"):
        frame["site"] = np.arange(len(frame)) % 4
        split_dataset(frame, dataset, 0.25, SEED, task="regression", folds=5)


def ridge_trials(study: optuna.Study, split: DataSplit, folds: int, wilcoxon: bool) -> dict[float, tuple[float, ...]]:
    """A good Ridge (alpha 0.1), then a bad one (alpha 1e6: predicts nearly the mean, a much larger RMSE),
    each pruned as the worker prunes (report_fold); the fold scores each got through."""
    model = resolve_model("sklearn.linear_model.Ridge", None)
    outcome: dict[float, tuple[float, ...]] = {}
    for alpha in (0.1, 1e6):
        trial = study.ask()

        def after_fold(fold: int, mean: float, score: float, trial: optuna.Trial = trial) -> bool:
            report_fold(trial, wilcoxon, fold, mean, score)
            return trial.should_prune()

        try:
            built = model.build({"alpha": alpha}, SEED)
            scores, _ = evaluate(built, split, "neg_root_mean_squared_error", folds, SEED, after_fold, "regression")
            study.tell(trial, scores.cv_mean)
            outcome[alpha] = scores.fold_scores
        except Stopped as stopped:
            study.tell(trial, state=TrialState.PRUNED)
            outcome[alpha] = stopped.fold_scores
    return outcome


def test_neg_rmse_is_maximised_so_the_better_regressor_wins_and_the_worse_is_pruned(tmp_path: Path) -> None:
    dataset = DatasetSpec(str(regression_csv(tmp_path / "r.csv")), "y", GEN)
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="regression")
    pruning = PruningSpec("median", after_folds=1, warmup_trials=1)
    study = optuna.create_study(storage=InMemoryStorage(), direction="maximize", pruner=pruner(pruning))
    outcome = ridge_trials(study, split, 5, wilcoxon=False)
    good, bad = study.trials
    assert good.state == TrialState.COMPLETE and bad.state == TrialState.PRUNED and len(outcome[1e6]) < 5
    assert study.best_trial.number == good.number and good.value is not None and good.value < 0  # neg_*: nearer 0 is better
    assert bad.intermediate_values[max(bad.intermediate_values)] < good.intermediate_values[1]  # a running mean, worse


# ---------- (e) WilcoxonPruner gets each fold's score ----------


def test_wilcoxon_pruner_is_built_and_fed_fold_scores(tmp_path: Path) -> None:
    raw = spec_json("generated", "target", pruning={"kind": "wilcoxon", "afterFolds": 3, "warmupTrials": 0, "pThreshold": 0.2})
    spec = load_shard_spec(write_spec(tmp_path, raw))
    study = open_study(InMemoryStorage(), spec)
    assert isinstance(study.pruner, optuna.pruners.WilcoxonPruner)
    assert (study.pruner._p_threshold, study.pruner._n_startup_steps) == (0.2, 3)
    dataset = DatasetSpec(str(regression_csv(tmp_path / "r.csv")), "y", GEN)
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="regression")
    outcome = ridge_trials(study, split, 6, wilcoxon=True)
    best, pruned = study.trials
    assert best.state == TrialState.COMPLETE and pruned.state == TrialState.PRUNED
    # Step = the fold's index, value = that fold's own score (not the running mean).
    assert best.intermediate_values == dict(enumerate(outcome[0.1][:5]))
    assert pruned.intermediate_values == dict(enumerate(outcome[1e6]))
    assert 3 <= len(outcome[1e6]) < 6


# ---------- (b) categorical columns with gaps through one Pipeline ----------


def test_declared_features_become_one_pipeline_that_ignores_unknown_categories(tmp_path: Path) -> None:
    features = FeaturesSpec(("size", "weight"), ("colour", "shape"), ("id",), "median", "most_frequent")
    dataset = DatasetSpec(str(tabular_csv(tmp_path / "t.csv")), "label", GEN, features=features)
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="classification", folds=3)
    assert list(split.x_train.columns) == ["size", "weight", "colour", "shape"]
    assert split.x_train["colour"].dropna().map(type).eq(str).all() and split.x_train["colour"].isna().any()
    model = resolve_model("sklearn.linear_model.LogisticRegression", None)
    pipeline = with_features(model.build({"C": 1.0, "max_iter": 500}, SEED), features)
    scores, fitted = evaluate(pipeline, split, "f1_macro", 3, SEED)
    assert 0.5 < scores.cv_mean <= 1 and set(scores.test_extra) == {"test_accuracy"}
    assert [name for name, _ in fitted.steps] == ["features", "model"]
    unseen = pd.DataFrame(
        {"size": [0.3, np.nan, 2.0], "weight": [0.0, 1.0, np.nan], "colour": ["purple", None, np.nan], "shape": ["round", "hexagon", None]}
    )
    assert len(fitted.predict(unseen)) == 3 and fitted.predict_proba(unseen).shape == (3, 3)
    # A missing string is imputed alike whether it arrives as None (parquet, JSON) or NaN (CSV): as the most frequent value.
    as_nan = unseen.assign(colour=["purple", np.nan, np.nan], shape=["round", "hexagon", np.nan])
    np.testing.assert_array_equal(fitted.predict_proba(unseen), fitted.predict_proba(as_nan))
    imputed = unseen.assign(colour=["purple", split.x_train["colour"].mode()[0], split.x_train["colour"].mode()[0]])
    imputed["shape"] = ["round", "hexagon", split.x_train["shape"].mode()[0]]
    np.testing.assert_array_equal(fitted.predict_proba(unseen), fitted.predict_proba(imputed))


@pytest.mark.parametrize(("policy", "categorical"), [("zero", "constant"), ("none", "none"), ("mean", "most_frequent")])
def test_every_impute_policy_builds(policy: str, categorical: str, tmp_path: Path) -> None:
    features = FeaturesSpec(("size", "weight"), ("colour", "shape"), ("id",), policy, categorical)
    dataset = DatasetSpec(str(tabular_csv(tmp_path / "t.csv")), "label", GEN, features=features)
    split = split_dataset(load_frame(dataset), dataset, 0.25, SEED, task="classification")
    # "none" leaves numeric gaps to the estimator: HistGradientBoosting takes them.
    name = "sklearn.ensemble.HistGradientBoostingClassifier" if policy == "none" else "sklearn.ensemble.RandomForestClassifier"
    estimator = resolve_model(name, None).build({"max_depth": 3}, SEED)
    scores, _ = evaluate(with_features(estimator, features), split, "accuracy", 3, SEED)
    assert 0.4 < scores.cv_mean <= 1


# ---------- (c, unit) a factory from the user's code ----------


def test_factory_builds_a_pipeline_and_its_failures_fail_the_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(user_code(tmp_path / "code", "byom_user_models")))
    model = resolve_model(None, "byom_user_models:build")
    assert model.accepted_params() is None and model.declared_task() is None
    assert study_task(model, None, "r2") == "regression"
    built = model.build({"alpha": 0.5}, SEED)
    assert type(built).__name__ == "Pipeline" and built.get_params()["ridge__alpha"] == 0.5
    with pytest.raises(
        FactoryFailed, match=r"factory byom_user_models:build\(\*\*\{'alpha': -1\}\) raised ValueError: alpha must be >= 0, got -1"
    ):
        model.build({"alpha": -1}, SEED)
    with pytest.raises(FactoryFailed, match="returned dict: expected an estimator instance with fit and get_params"):
        resolve_model(None, "byom_user_models:not_a_model").build({"alpha": 1}, SEED)
    with pytest.raises(ModelError, match="task is classification but sklearn.linear_model.Ridge is a regression estimator"):
        study_task(resolve_model("sklearn.linear_model.Ridge", None), "classification", "accuracy")


# ---------- (d) the preflight: every problem named at its spec key ----------


def test_check_passes_a_good_spec_and_says_what_it_found(tmp_path: Path) -> None:
    source = str(tabular_csv(tmp_path / "t.csv"))
    spec = spec_json(
        source,
        "label",
        estimator="sklearn.svm.SVC",
        scoring="f1_macro",
        dataset={"source": source, "target": "label", "generate": {}, "features": TABULAR_FEATURES},
        trials=[{"index": 0, "key": "k0", "params": {"C": 1.0, "kernel": "rbf"}}],
        search={"kind": "tpe", "budget": 4, "seed": 1, "space": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}}},
    )
    spec["dataset"]["generate"] = spec_json("", "")["dataset"]["generate"]
    result = run_cli(TRAINER_DIR / "trainer.py", ["check", "--spec", write_spec(tmp_path, spec)], client_env("http://unused"))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    found = json.loads(result.stdout)
    assert found["ok"] is True and found["task"] == "classification" and found["estimator"] == "sklearn.svm.SVC"
    assert {"C", "kernel", "gamma"} <= set(found["acceptedParams"]) and found["rows"] == 400
    assert found["columns"] == {
        "size": "numeric",
        "weight": "numeric",
        "colour": "categorical",
        "shape": "categorical",
        "id": "drop",
        "label": "target",
    }


def test_check_aliases_keep_their_family_and_old_specs_read(tmp_path: Path) -> None:
    raw = spec_json("generated", "target", scoring="f1_macro", trials=[{"index": 0, "key": "k", "params": {"n_estimators": 5}}])
    del raw["estimator"]
    raw["modelFamily"] = "random_forest"  # a spec written before issue 20
    result = preflight(write_spec(tmp_path, raw))
    assert result["ok"] is True and result["estimator"] == "sklearn.ensemble.RandomForestClassifier" and result["task"] == "classification"


def test_check_names_unknown_paths_non_estimators_and_unknown_params(tmp_path: Path) -> None:
    source = str(regression_csv(tmp_path / "r.csv"))
    found = problems(tmp_path, spec_json(source, "y", estimator="sklearn.linear_model.Ridgge"))
    assert found == {"estimator": "module 'sklearn.linear_model' has no attribute 'Ridgge'"}
    found = problems(tmp_path, spec_json(source, "y", estimator="no_such_package.Model"))
    assert found["estimator"].startswith("cannot import module 'no_such_package': No module named 'no_such_package'")
    found = problems(tmp_path, spec_json(source, "y", estimator="sklearn.metrics.r2_score"))
    assert (
        found["estimator"]
        == "sklearn.metrics.r2_score is not an estimator: expected a class with fit and get_params (the scikit-learn estimator API)"
    )
    bad_params = spec_json(
        source,
        "y",
        search={"kind": "tpe", "budget": 2, "seed": 1, "space": {"C": {"values": [1, 2]}, "alpha": {"values": [1, 2]}}},
        trials=[{"index": 0, "key": "k", "params": {"alpha": 1.0, "n_estimators": 3}}],
    )
    found = problems(tmp_path, bad_params)
    assert set(found) == {"search.space.C", "trials[0].params.n_estimators"}
    assert found["search.space.C"].startswith(
        "'C' is not a parameter of sklearn.linear_model.Ridge: expected one of alpha, copy_X, fit_intercept"
    )


def test_check_names_a_scorer_of_the_wrong_task(tmp_path: Path) -> None:
    source = str(regression_csv(tmp_path / "r.csv"))
    found = problems(tmp_path, spec_json(source, "y", scoring="f1_macro"))
    assert found["scoring"].startswith("'f1_macro' is a classification scorer but the task is regression")
    found = problems(tmp_path, spec_json(source, "y", scoring="r2", task="classification"))
    assert found["scoring"].startswith("'r2' is a regression scorer but the task is classification")
    source = str(tabular_csv(tmp_path / "t.csv"))
    dataset = {"source": source, "target": "label", "generate": spec_json("", "")["dataset"]["generate"], "features": TABULAR_FEATURES}
    found = problems(tmp_path, spec_json(source, "label", estimator="random_forest", scoring="f1", dataset=dataset, trials=[]))
    assert found["scoring"].startswith("'f1' cannot score this target column: Target is multiclass but average='binary'")


def test_check_names_target_problems(tmp_path: Path) -> None:
    frame = pd.read_csv(regression_csv(tmp_path / "r.csv"))
    frame["one"] = "yes"
    frame["text"] = "a"
    frame.to_csv(tmp_path / "r.csv", index=False)
    source = str(tmp_path / "r.csv")
    features = {"numeric": ["x0", "x1", "x2", "x3", "x4"], "drop": ["one", "text"]}
    dataset = {"source": source, "target": "y", "generate": spec_json("", "")["dataset"]["generate"], "features": features}
    svc = {"estimator": "sklearn.svm.SVC", "scoring": "accuracy", "trials": []}
    found = problems(tmp_path, spec_json(source, "y", dataset=dataset, **svc))
    assert found["dataset.target"].startswith("target column 'y' holds non-integer numbers (e.g. ")
    assert (
        "but the task is classification: expected class labels (for a numeric target use a regressor, task: regression)"
        in found["dataset.target"]
    )
    one_class = {**dataset, "target": "one", "features": {**features, "drop": ["y", "text"]}}
    found = problems(tmp_path, spec_json(source, "one", dataset=one_class, **svc))
    assert found == {"dataset.target": "target column 'one' has one class ('yes'): classification needs at least two"}
    text_target = {**dataset, "target": "text", "features": {**features, "drop": ["y", "one"]}}
    found = problems(tmp_path, spec_json(source, "text", dataset=text_target))
    assert found == {"dataset.target": "target column 'text' is not numeric (e.g. 'a'): a regressor needs numbers"}


def test_check_names_missing_undeclared_and_non_numeric_columns(tmp_path: Path) -> None:
    path = tabular_csv(tmp_path / "t.csv")
    frame = pd.read_csv(path)
    frame["weight"] = frame["weight"].astype(object)
    frame.loc[16, "weight"] = "heavy"
    frame["extra"] = 1
    frame.to_csv(path, index=False)
    generate = spec_json("", "")["dataset"]["generate"]
    features = {**TABULAR_FEATURES, "categorical": ["colour", "shape", "texture"]}
    dataset = {"source": str(path), "target": "label", "generate": generate, "features": features}
    found = problems(tmp_path, spec_json(str(path), "label", estimator="random_forest", scoring="accuracy", dataset=dataset, trials=[]))
    assert found["dataset.features.categorical"].startswith("declared column(s) missing from the data: texture (columns: ")
    assert found["dataset.features"] == "column(s) not declared as numeric, categorical or drop: extra"
    dataset["features"] = {**TABULAR_FEATURES, "drop": ["id", "extra"]}
    found = problems(tmp_path, spec_json(str(path), "label", estimator="random_forest", scoring="accuracy", dataset=dataset, trials=[]))
    assert found == {"dataset.features.numeric": "column 'weight', row 17: 'heavy' is not a number (declared numeric)"}
    # Without declared features, a string column is refused as before, and told where to declare it.
    del dataset["features"]
    found = problems(tmp_path, spec_json(str(path), "label", estimator="random_forest", scoring="accuracy", dataset=dataset, trials=[]))
    assert found["dataset.features"].startswith("expected numeric feature columns, got non-numeric: weight, colour, shape")


def test_check_exits_2_with_one_json_line_and_imports_a_factory_without_calling_it(tmp_path: Path) -> None:
    code = user_code(tmp_path / "code", "byom_check_models", "\ndef build_raises(**params):\n    raise RuntimeError('called')\n")
    source = str(regression_csv(tmp_path / "r.csv"))
    spec = spec_json(source, "y", factory="byom_check_models:build_raises", codePath=str(code), scoring="r2")
    del spec["estimator"]
    assert preflight(write_spec(tmp_path, spec))["ok"] is True  # imported, never called: trial params are not checked
    spec["factory"] = "byom_check_models:nothing"
    result = run_cli(TRAINER_DIR / "trainer.py", ["check", "--spec", write_spec(tmp_path, spec)], client_env("http://unused"))
    assert result.returncode == 2 and len(result.stdout.strip().splitlines()) == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "problems": [{"key": "factory", "message": "module 'byom_check_models' has no attribute 'nothing'"}],
    }
    (code / "features.py").write_text("X = 1\n")  # the name of a trainer module: the user's would never be imported
    assert problems(tmp_path, spec)["codePath"].startswith(
        f"{code / 'features.py'}: module 'features' is already taken by {TRAINER_DIR / 'features.py'}"
    )
    spec["codePath"] = str(tmp_path / "absent")
    assert problems(tmp_path, spec)["codePath"].endswith("absent: no such folder (expected the folder of the user's Python modules)")


def test_check_leaves_data_only_the_workers_can_read_to_them_and_still_checks_the_model(tmp_path: Path) -> None:
    source = "s3://bucket-the-driver-cannot-read/train.csv"
    spec = spec_json(
        source, "y", estimator="sklearn.linear_model.Ridge", scoring="r2", trials=[{"index": 0, "key": "k", "params": {"alpha": 1.0}}]
    )
    assert problems(tmp_path, spec)["dataset.source"].startswith(f"dataset {source}: cannot read from S3")
    found = preflight(write_spec(tmp_path, spec), check_data=False)
    assert found["ok"] is True and found["task"] == "regression" and found["estimator"] == "sklearn.linear_model.Ridge"
    assert "alpha" in found["acceptedParams"] and "rows" not in found  # the data was left alone
    spec["trials"][0]["params"] = {"alphaa": 1.0}
    result = run_cli(
        TRAINER_DIR / "trainer.py", ["check", "--skip-data", "--spec", write_spec(tmp_path, spec)], client_env("http://unused")
    )
    assert result.returncode == 2 and [p["key"] for p in json.loads(result.stdout)["problems"]] == ["trials[0].params.alphaa"]


def test_a_worker_refuses_a_bad_model_or_dataset_before_any_trial(tmp_path: Path) -> None:
    """`run` makes the same checks as `check` (exit 2, one line) before it contacts MLflow or fits anything."""
    source = str(regression_csv(tmp_path / "r.csv"))
    # Nothing listens there: the worker must stop before it connects (a short retry budget, should it try).
    env = client_env("http://127.0.0.1:9", MLOPS_TRACKING_RETRY_SECONDS="1")
    result = run_cli(TRAINER_DIR / "trainer.py", ["run", "--spec", write_spec(tmp_path, spec_json(source, "y", scoring="accuracy"))], env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "trainer: error: scoring: 'accuracy' is a classification scorer but the task is regression: expected one of "
        "d2_absolute_error_score, explained_variance, neg_max_error, neg_mean_absolute_error, neg_mean_absolute_percentage_error, "
        "neg_mean_gamma_deviance, neg_mean_poisson_deviance, neg_mean_squared_error, neg_mean_squared_log_error, "
        "neg_median_absolute_error, neg_root_mean_squared_error, neg_root_mean_squared_log_error, r2"
    )
    frame = pd.read_csv(source)
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[4, "x1"] = "twelve"
    frame.to_csv(source, index=False)
    generate = spec_json("", "")["dataset"]["generate"]
    dataset = {"source": source, "target": "y", "generate": generate, "features": {"numeric": ["x0", "x1", "x2", "x3", "x4"]}}
    result = run_cli(TRAINER_DIR / "trainer.py", ["run", "--spec", write_spec(tmp_path, spec_json(source, "y", dataset=dataset))], env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"trainer: error: dataset {source}: column 'x1', row 5: 'twelve' is not a number (declared numeric)"
