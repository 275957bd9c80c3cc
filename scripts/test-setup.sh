#!/usr/bin/env bash
# What `make test` needs before its tiers, with the cold builds overlapped (the npm packages and the venv
# are Make prerequisites and come first):
#   - every Debian package of scripts/packages.list, first (as root);
#   - the Docker images build in the background from the start: mostly downloads and unpacking, so they
#     overlap well with the CPU-bound Go builds of the toolchain;
#   - the Pulumi toolchain (CLI, kubernetes plugin, bridged plugins), then SeaweedFS, in the foreground:
#     the integration tier needs them;
#   - once the kubernetes plugin is built (the cluster binaries share most of its Go packages through
#     Go's build cache), the local cluster's binaries build in the background under `nice -n 19` and keep
#     going while the unit, integration and end-to-end tiers run; the cluster tier waits for them
#     (scripts/cluster/build.sh holds a lock). Started only where the cluster tier can run (root, Go).
# Every step prints its wall time; a failed background step fails this script (images) or the cluster
# tier (cluster build, which reruns in the foreground and shows its error there).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cluster/common.sh
source scripts/cluster/common.sh
LOG_TAG=setup

# Every Debian package any tier needs, before anything that uses one (scripts/packages.list).
if [ "$(id -u)" = 0 ]; then
  step "Debian packages (scripts/packages.list)" bash scripts/packages.sh install
else
  bash scripts/packages.sh check || log "not root: the tiers that need the packages above will say so"
fi

mkdir -p "$MLOPS_CACHE_DIR/logs"
images_log="$MLOPS_CACHE_DIR/logs/test-docker-images.log"
log "Docker images: building in the background (log: $images_log)"
images_started=$SECONDS
(
  rc=0
  make --no-print-directory test-docker-images || rc=$?
  echo "[setup] Docker images: exit $rc after $((SECONDS - images_started))s"
  exit "$rc"
) >"$images_log" 2>&1 &
images_pid=$!

bash scripts/toolchain.sh

if [ "$(id -u)" != 0 ] || ! command -v go >/dev/null 2>&1; then
  log "local cluster: not built here (needs root and Go; the cluster tier says why it skips)"
elif bash scripts/cluster/build.sh check >/dev/null 2>&1; then
  log "local cluster: binaries cached"
else
  log "local cluster: building in the background under nice -n 19 while the tests run (log: $CLUSTER_BACKGROUND_BUILD_LOG)"
  # Detached from this script's process group: it must outlive `make test-setup`.
  # Idle I/O class too: the tests' databases and servers come first.
  setsid ionice -c 3 bash -c 'bash scripts/cluster/build.sh all && bash scripts/cluster/images.sh build' >"$CLUSTER_BACKGROUND_BUILD_LOG" 2>&1 </dev/null &
fi

bash scripts/toolchain.sh seaweedfs >/dev/null

next_report=$SECONDS
while kill -0 "$images_pid" 2>/dev/null; do
  if ((SECONDS >= next_report)); then
    log "Docker images: still building ($((SECONDS - images_started))s so far); last line: $(tail -n 1 "$images_log" | cut -c1-120)"
    next_report=$((SECONDS + 60))
  fi
  sleep 2
done
if ! wait "$images_pid"; then
  tail -n 40 "$images_log" >&2
  die "Docker images failed (full log: $images_log)"
fi
grep -E '^\[(docker|setup)|test-setup:' "$images_log" >&2 || true
log "test setup ready in $((SECONDS - TOOLCHAIN_STARTED))s"
