"""The XGBoost case of `make bench-serve`: a model the forest fast path does not fit, served through
the estimator's own predict and predict_proba, as every model a user brings is.

XGBoost is not in python/requirements.lock, and the shared venv stays as locked: the pin below is
installed once into its own folder under .pipeline/bench-deps/ (pip --target) and put on PYTHONPATH
for this case only. `xgboost-cpu` is the `xgboost` module without the CUDA NCCL library that the
`xgboost` wheel pulls in on Linux (hundreds of MB); 3.2.0 is the newest for the venv's Python 3.11
(3.3 and later need 3.12). `--no-deps`: its dependencies, numpy and scipy, are in the venv already,
and a second copy in the folder would shadow the locked ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

XGBOOST_REQUIREMENT = "xgboost-cpu==3.2.0"
MODEL_NAME = "serve-bench-xgboost"


def install(repo: Path) -> Path:
    """The folder holding the pinned XGBoost (installed on first use), already on this process's path."""
    target = repo / ".pipeline" / "bench-deps" / XGBOOST_REQUIREMENT.replace("==", "-")
    if not (target / "xgboost").is_dir():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-deps"]
        result = subprocess.run([*command, "--target", str(partial), XGBOOST_REQUIREMENT], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pip could not install {XGBOOST_REQUIREMENT} into {partial}: {result.stderr.strip()[-500:]}")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # only a complete install gets the name that says it is there
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    return target


def with_path(env: dict[str, str], folder: Path) -> dict[str, str]:
    """A server's environment with the XGBoost folder on its PYTHONPATH."""
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)}


#: mlflow.sklearn.log_model options: the requirements named, not inferred (inference imports the
#: model in a subprocess, which would not have the folder on its path).
LOG_OPTIONS: dict[str, Any] = {"pip_requirements": [XGBOOST_REQUIREMENT, "scikit-learn"]}


def train(x: Any, y: Any) -> Any:
    """An XGBClassifier on the same data as the forest, to be logged with mlflow.sklearn as the
    trainer logs a user's estimator. One thread (n_jobs=1), as the forest: each server process gets a core."""
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=60, max_depth=6, learning_rate=0.2, n_jobs=1, random_state=0).fit(x, y)
