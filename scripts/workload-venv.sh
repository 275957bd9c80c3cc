#!/usr/bin/env bash
# A workload venv for a stack's `training.requirements`: the project's .venv plus the user's exact pins.
#
#   scripts/workload-venv.sh <venv-dir> <pin>...      e.g. .pipeline/venvs/3f2a... xgboost-cpu==3.1.2
#
# The new venv sees .venv's packages through a .pth file, so pip installs only what the pins add
# and python/requirements.lock is a constraint (scikit-learn, numpy, MLflow stay exactly the lock's: a pin
# that would change one fails here). .venv itself is never changed. The
# directory name is chosen by the caller from the pins (components/local/paths.ts), so a venv is
# built once per set of pins; <venv-dir>/.pins records what was installed, written last.
# Env: MLOPS_VENV (the base venv, default .venv).
set -euo pipefail
LOG_TAG=workload-venv
source "$(dirname "$0")/common.sh"

(($# >= 2)) || die "usage: $0 <venv-dir> <pin>..."
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
venv_dir="$1"
shift
base="${MLOPS_VENV:-$repo_root/.venv}"
[[ -x "$base/bin/python" ]] || die "$base has no python: run 'make venv' first"
wanted="$(printf '%s\n' "$@" | sort)"

mkdir -p "$(dirname "$venv_dir")"
exec 9>"$venv_dir.lock"
flock 9 # two workers or stacks asking for the same pins build it once
if [[ -f "$venv_dir/.pins" && "$(cat "$venv_dir/.pins")" == "$wanted" ]]; then
  log "up to date: $venv_dir ($(tr '\n' ' ' <<<"$wanted"))"
  exit 0
fi
started=$SECONDS
rm -rf "$venv_dir"
log "creating $venv_dir on top of $base for: $*"
"$base/bin/python" -m venv --without-pip "$venv_dir"
site="$("$venv_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/_mlops_base_venv.pth"
if ! "$base/bin/python" -m pip --python "$venv_dir/bin/python" install --no-input --quiet --constraint "$repo_root/python/requirements.lock" "$@" >&2; then
  rm -rf "$venv_dir"
  die "pip could not install $*: see the lines above (a pin PyPI does not serve, or one that conflicts with python/requirements.lock)"
fi
printf '%s\n' "$wanted" >"$venv_dir/.pins"
log "installed $* in $((SECONDS - started))s"
