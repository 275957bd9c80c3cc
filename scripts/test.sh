#!/usr/bin/env bash
# Runs one test tier, or all of them in order: `bash scripts/test.sh unit|integration|e2e|cluster|all`
# (all = unit, integration, e2e; the cluster tier needs root and `make cluster-build`, and runs alone).
# Each tier prints its own timing; the first failing tier stops the run with its exit code.
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
  run_tier "lint (biome)" npx biome lint .
  run_tier "configuration reference is current" npx tsx config/reference.ts --check
  run_tier "unit (vitest, Pulumi mocks)" npx vitest run --project unit
}

integration() {
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "python workloads (pytest, real MLflow server)" bash scripts/test-python.sh
  run_tier "integration (real PostgreSQL, SeaweedFS, MLflow, Pulumi engine, Docker)" npx vitest run --project integration
}

e2e() {
  # shellcheck disable=SC1091
  source scripts/env.sh
  run_tier "end-to-end (make pipeline on the local stack)" npx vitest run --project e2e
}

# Runs tier $1 in a scope of its own (test.sh again, under scoped.sh), unless already inside one.
scoped() {
  if [[ -n "${MLOPS_TEST_SCOPED:-}" ]]; then "$1"; else MLOPS_TEST_SCOPED=1 bash scripts/services/scoped.sh bash scripts/test.sh "$1"; fi
}

cluster() {
  run_tier "cluster (a real single-node Kubernetes from scripts/cluster)" npx vitest run --project cluster
}

case "$tier" in
  unit) unit ;;
  integration) scoped integration ;;
  e2e) scoped e2e ;;
  cluster) cluster ;;
  all) unit; scoped integration; scoped e2e ;;
  *) echo "usage: scripts/test.sh unit|integration|e2e|cluster|all" >&2; exit 2 ;;
esac
