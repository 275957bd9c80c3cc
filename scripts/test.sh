#!/usr/bin/env bash
# Runs one test tier, or all of them: `bash scripts/test.sh unit|python|integration|e2e|cluster|e2e+cluster|all`
# (integration = python, then the integration tests; all = unit and python side by side, then integration,
# then e2e and cluster side by side). The cluster tier builds (or finds cached) the local cluster,
# starts it, runs test/cluster and stops it; where it cannot run (not root, no cgroups, no Go to build it,
# no Docker images of the stack) it is skipped with the reason, except in CI (CI=true), where that fails.
# Each tier and step prints its own timing; the first failing tier stops the run with its exit code.
# A tier that may start services runs inside scripts/services/scoped.sh: whatever it started
# (PostgreSQL, SeaweedFS, MLflow, dockerd) is stopped when it ends, passed, failed or interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}

run_tier() {
  local name=$1; shift
  local started=$(date +%s)
  echo "=== tests: $name"
  "$@"
  echo "=== tests: $name passed in $(( $(date +%s) - started )) s"
}

unit() {
  run_tier "type check (tsc --noEmit, strict)" npx tsc --noEmit -p .
  run_tier "format and lint (biome check)" npx biome check .
  run_tier "Python format and lint (ruff, ruff.toml)" bash -c '.venv/bin/ruff format --check . && .venv/bin/ruff check .'
  run_tier "configuration reference is current" npx tsx config/reference.ts --check
  run_tier "unit (vitest, Pulumi mocks)" npx vitest run --project unit
}

python_workloads() {
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "python workloads (pytest, real MLflow server)" bash scripts/test-python.sh
}

integration() {
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "integration (real PostgreSQL, SeaweedFS, MLflow, Pulumi engine, Docker)" npx vitest run --project integration
}

e2e() {
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "end-to-end (make pipeline on the local stack)" npx vitest run --project e2e
}

# Runs tier $1 in a scope of its own (test.sh again, under scoped.sh), unless already inside one.
scoped() {
  if [[ -n "${MLOPS_TEST_SCOPED:-}" ]]; then in_scope "$1"; else MLOPS_TEST_SCOPED=1 bash scripts/services/scoped.sh bash scripts/test.sh --in-scope "$1"; fi
}

# The groups of tiers that share one scope.
in_scope() {
  case "$1" in
    e2e+cluster) side_by_side e2e cluster ;;
    # The unit tier needs no service and the Python tier mostly waits on its MLflow servers.
    unit+python+integration) side_by_side unit python_workloads && integration ;;
    python+integration) python_workloads && integration ;;
    python_workloads | e2e) "$1" ;;
    *) echo "scripts/test.sh: no scoped group '$1'" >&2; return 2 ;;
  esac
}

# Why the cluster tier cannot run here, or nothing. Checked before anything is built or started.
cluster_unavailable() {
  [ "$(id -u)" = 0 ] || { echo "the local cluster needs root (containers, mounts, iptables): run as root"; return; }
  if ! bash scripts/cluster/build.sh check >/dev/null 2>&1 && ! command -v go >/dev/null 2>&1; then
    echo "the cluster binaries are not cached and there is no Go toolchain to build them (Go >= 1.26)"; return
  fi
  # Its message is the reason; its exit status must not end this script (set -e).
  bash scripts/cluster/import-images.sh check 2>&1 | sed 's/^\[cluster[^]]*\] ERROR: //' || true
}

cluster() {
  local reason
  reason=$(cluster_unavailable)
  if [ -n "$reason" ]; then
    if [ -n "${CI:-}" ]; then echo "=== tests: cluster FAILED: cannot run in CI: $reason" >&2; return 1; fi
    echo "=== tests: cluster SKIPPED: $reason"
    return 0
  fi
  run_tier "cluster: build or find the cached binaries and images" bash -c 'bash scripts/cluster/build.sh all && bash scripts/cluster/images.sh build'
  # The preflight (cgroups, kernel modules, free ports) is about this machine: outside CI it skips.
  if ! reason=$(bash scripts/cluster/up.sh check 2>&1); then
    if [ -n "${CI:-}" ]; then echo "=== tests: cluster FAILED: $reason" >&2; return 1; fi
    echo "=== tests: cluster SKIPPED: $reason"
    return 0
  fi
  # A cluster the user already runs is used and left running; one started here is stopped, pass or fail.
  local was_up=""
  bash scripts/cluster/status.sh >/dev/null 2>&1 && was_up=1
  [ -n "$was_up" ] || trap 'run_tier "cluster: down" bash scripts/cluster/down.sh' EXIT
  run_tier "cluster: up" bash scripts/cluster/up.sh
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "cluster (the prod path on a real single-node Kubernetes from scripts/cluster)" npx vitest run --project cluster
}

# The end-to-end and cluster tiers side by side: neither saturates 2 cores alone (pipelines wait on
# servers, rollouts and Kubernetes), their stacks, ports and run records are their own, and together they
# take about half as long. One scope around both: a service either starts lives until both have ended.
# Each line is prefixed with its tier; both run to the end, and the first failure's exit code is kept.
side_by_side() {
  local pids=() names=() status=0 rc i tier
  for tier in "$@"; do
    ("$tier" 2>&1 | sed -u "s/^/[$tier] /") &
    pids+=("$!")
    names+=("$tier")
  done
  for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if [ "$rc" != 0 ]; then
      echo "=== tests: ${names[$i]} FAILED (exit $rc)" >&2
      [ "$status" != 0 ] || status=$rc
    fi
  done
  return "$status"
}

case "$tier" in
  --in-scope) in_scope "$2" ;;
  unit) unit ;;
  python) scoped python_workloads ;;
  integration) scoped python+integration ;;
  e2e) scoped e2e ;;
  cluster) cluster ;;
  e2e+cluster) scoped e2e+cluster ;;
  all) scoped unit+python+integration && scoped e2e+cluster ;;
  *) echo "usage: scripts/test.sh unit|python|integration|e2e|cluster|e2e+cluster|all" >&2; exit 2 ;;
esac
