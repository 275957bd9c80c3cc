#!/usr/bin/env bash
# Runs the Python workload tests (trainer, data generator, model server) and those of their shared
# helpers (python/testing) from .venv.
# The tests start their own `mlflow server` (SQLite + temp artifact folder) on a free loopback port,
# so nothing else needs to be running. Extra arguments go to pytest, e.g. `-k serving` or `-x`.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
bash scripts/python-env.sh
venv_dir="${MLOPS_VENV:-$repo_root/.venv}"

started=$SECONDS
echo "[test-python] pytest images/trainer/tests images/serving/tests images/mlflow/tests python/testing/tests"
# No cache provider: running the tests leaves no .pytest_cache in the tree.
status=0
"$venv_dir/bin/python" -m pytest -p no:cacheprovider -ra --durations=8 images/trainer/tests images/serving/tests images/mlflow/tests python/testing/tests "$@" || status=$?
echo "[test-python] finished in $((SECONDS - started))s (exit $status)"
exit "$status"
