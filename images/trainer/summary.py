"""The study run's summary, written by the worker that sees the shared study settle: the best
trial, and two pictures a person would rather look at than read (optimisation history, CV score per
parameter value). Drawn from the Optuna study, which holds every worker's trials."""

from __future__ import annotations

import json
import math
from typing import Any

import optuna
from contract import ATTR_KEY, ATTR_PARAMS, METRIC_CV_MEAN, TAG_BEST_TRIAL_KEY
from mlflow.entities import Metric, RunTag
from optuna.trial import FrozenTrial, TrialState
from runner import ShardContext

PLOT_HISTORY = "plots/optimization_history.png"
PLOT_PARAMS = "plots/score_per_parameter.png"


def _params(trial: FrozenTrial) -> dict[str, Any]:
    raw = trial.user_attrs.get(ATTR_PARAMS)
    return json.loads(raw) if isinstance(raw, str) else dict(trial.params)


def history_figure(trials: list[FrozenTrial], scoring: str, per_fold: bool = False) -> Any:
    """`per_fold`: the trials reported each fold's score (WilcoxonPruner), not the running mean."""
    import matplotlib

    matplotlib.use("Agg")  # no display in a worker
    import matplotlib.pyplot as plt

    done = sorted((t for t in trials if t.state == TrialState.COMPLETE and t.value is not None), key=lambda t: t.number)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    best = -math.inf
    running = []
    for t in done:
        best = max(best, float(t.value or 0))
        running.append(best)
    ax.scatter([t.number for t in done], [t.value for t in done], s=18, label="trial (full CV mean)")
    ax.step([t.number for t in done], running, where="post", color="tab:red", label="best so far")
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if pruned:
        ax.scatter(
            [t.number for t in pruned],
            [_running_mean(t, per_fold) for t in pruned],
            marker="x",
            color="grey",
            label="pruned (running mean)",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(METRIC_CV_MEAN.format(scoring=scoring))
    ax.set_title("Optimisation history")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _running_mean(trial: FrozenTrial, per_fold: bool) -> float:
    values = trial.intermediate_values
    return sum(values.values()) / len(values) if per_fold else values[max(values)]


def params_figure(trials: list[FrozenTrial], scoring: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    names = sorted({name for t in done for name in _params(t)})
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(3.2 * max(len(names), 1), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = [_params(t).get(name) for t in done]
        scores = [t.value for t in done]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            ax.scatter(values, scores, s=14)
        else:  # categorical (None included): one column per distinct value
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v in values], scores, s=14)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
    axes[0][0].set_ylabel(METRIC_CV_MEAN.format(scoring=scoring))
    fig.suptitle("CV score per parameter value")
    fig.tight_layout()
    return fig


def publish_summary(ctx: ShardContext, study: optuna.Study) -> str | None:
    """Returns the best trial's key, or None when no trial completed."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None
    best = max(complete, key=lambda t: float(t.value or 0))
    key = str(best.user_attrs.get(ATTR_KEY, best.number))
    t = ctx.tracking
    metric = Metric("best_cv_mean", float(best.value or 0), 0, 0)
    t.call("log study summary", t.client.log_batch, ctx.study_run_id, metrics=[metric], tags=[RunTag(TAG_BEST_TRIAL_KEY, key)])
    import matplotlib.pyplot as plt

    figures = (
        (PLOT_HISTORY, history_figure(trials, ctx.spec.scoring, ctx.spec.pruning.kind == "wilcoxon")),
        (PLOT_PARAMS, params_figure(trials, ctx.spec.scoring)),
    )
    for path, fig in figures:
        t.call("log study plot", t.client.log_figure, ctx.study_run_id, fig, path)
        plt.close(fig)
    return key
