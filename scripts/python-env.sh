#!/usr/bin/env bash
# Creates or updates .venv (repo root) from python/requirements.lock.
#
# Idempotent: .venv/.lock-sha256 holds the hash of the lock it was built from, so an unchanged lock
# costs nothing. Downloads go through a pip cache outside the repo ($MLOPS_CACHE_DIR/pip) so a fresh
# clone on the same machine reinstalls from local wheels.
#
# Env: PYTHON (interpreter to build from, default python3), MLOPS_CACHE_DIR, MLOPS_VENV (default .venv).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock_file="$repo_root/python/requirements.lock"
venv_dir="${MLOPS_VENV:-$repo_root/.venv}"
stamp_file="$venv_dir/.lock-sha256"
python_bin="${PYTHON:-python3}"
cache_dir="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-pipeline}/pip"

# Progress to stdout, errors to stderr as "[python-env] error: ...".
LOG_TAG=python-env LOG_FD=1
# shellcheck source=common.sh
source "$repo_root/scripts/common.sh"

command -v "$python_bin" >/dev/null 2>&1 || die "'$python_bin' not found: install Python >= 3.10 or set PYTHON=/path/to/python3"
"$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$("$python_bin" -V 2>&1) at $(command -v "$python_bin") is too old: expected Python >= 3.10 (set PYTHON=/path/to/python3.10+)"
[[ -f "$lock_file" ]] || die "missing $lock_file"

# Developer tools (ruff) beside the lock: installed into the venv, never into an image.
dev_lock_file="$repo_root/python/requirements-dev.lock"
lock_sha="$(cat "$lock_file" "$dev_lock_file" | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv_dir/bin/python" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$lock_sha" ]]; then
  log "up to date: $venv_dir matches python/requirements.lock (${lock_sha:0:12})"
  exit 0
fi

started=$SECONDS
if [[ ! -x "$venv_dir/bin/python" ]]; then
  log "creating $venv_dir with $("$python_bin" -V 2>&1)"
  "$python_bin" -m venv "$venv_dir"
fi
rm -f "$stamp_file"  # an interrupted install must not look complete

mkdir -p "$cache_dir"
count="$(grep -cE '^[A-Za-z0-9]' "$lock_file")"
log "installing $count pinned packages from python/requirements.lock (pip cache: $cache_dir)"
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --cache-dir "$cache_dir" \
  --no-deps --requirement "$lock_file"
# --no-deps installs exactly the lock; pip check proves the lock is complete and consistent.
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --cache-dir "$cache_dir" \
  --no-deps --requirement "$dev_lock_file"
"$venv_dir/bin/python" -m pip check >/dev/null || { "$venv_dir/bin/python" -m pip check >&2; die "python/requirements.lock is inconsistent (see above): regenerate it"; }

echo "$lock_sha" >"$stamp_file"
log "done in $((SECONDS - started))s: $venv_dir ($("$venv_dir/bin/python" -V 2>&1), mlflow $("$venv_dir/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))'))"
