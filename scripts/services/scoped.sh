#!/usr/bin/env bash
# Usage: scripts/services/scoped.sh <command> [args...]
# Runs the command, then stops every test service that was not running before it: PostgreSQL,
# SeaweedFS and MLflow (scripts/services/) and a dockerd that scripts/docker/engine.sh started.
# Also when the command fails or the run is interrupted (Ctrl-C, TERM). Services that already ran
# (e.g. `make services-up`, an engine someone else runs) are left alone. Exits with the command's status.
#
# SCOPED_SERVICE_SCRIPTS (space-separated, in stop order) replaces the list of service scripts; each
# takes `status` (exit 0 when running) and `stop` (idempotent). The tests use it with a stand-in.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
read -r -a scripts <<<"${SCOPED_SERVICE_SCRIPTS:-$HERE/mlflow.sh $HERE/seaweedfs.sh $HERE/postgres.sh $HERE/../docker/engine.sh}"
[[ $# -gt 0 ]] || { echo "usage: scripts/services/scoped.sh <command> [args...]" >&2; exit 2; }

running() { bash "$1" status >/dev/null 2>&1; }
name_of() { basename "$1" .sh; }

declare -A before=()
for script in "${scripts[@]}"; do
  if running "$script"; then before[$script]=1; fi
done

stop_started() {
  local status=$? script
  trap - EXIT INT TERM
  for script in "${scripts[@]}"; do
    [[ -n "${before[$script]:-}" ]] && continue
    if running "$script"; then
      echo "[scoped] stopping $(name_of "$script"): started during this run" >&2
      if ! bash "$script" stop >&2; then
        echo "[scoped] could not stop $(name_of "$script"): run bash $script stop" >&2
        [[ $status -ne 0 ]] || status=1
      fi
    else
      # Not answering, but a half-started process may hold its pid file: stop is idempotent.
      bash "$script" stop >/dev/null 2>&1 || true
    fi
  done
  exit "$status"
}
trap stop_started EXIT

# In the background, so a signal reaches the traps at once instead of after the command ends (bash
# defers traps while a foreground command runs), and in a process group of its own (set -m), so TERM
# reaches the command's own children too (vitest, its workers); it is waited for before the stops.
# Its stdin is /dev/null: a process group that is not the terminal's foreground would stop on a read.
set -m
"$@" </dev/null &
child=$!
set +m
forward() {
  kill -TERM -- "-$child" 2>/dev/null
  wait "$child" 2>/dev/null
  exit "$1"
}
trap 'forward 130' INT
trap 'forward 143' TERM
wait "$child"
