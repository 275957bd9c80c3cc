# Shared helpers for scripts/docker/*.sh (sourced, not run).
# Progress goes to stderr as "[docker] <elapsed>s <message>"; stdout is kept for machine-readable results.

MLOPS_CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-pipeline}"
DOCKER_CACHE_DIR="$MLOPS_CACHE_DIR/docker"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
LOG_TAG=docker LOG_CLOCK=after DIE_PREFIX="error:"
# shellcheck source=../common.sh
source "$REPO_ROOT/scripts/common.sh"

# The v28 CLI needs the buildx plugin for BuildKit; without it the legacy builder (which the
# Debian 20.10 engine has) builds the same multi-stage Dockerfiles.
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi

engine_answers() { docker info >/dev/null 2>&1; }
require_engine() { engine_answers || die "no Docker engine answers on ${DOCKER_HOST:-unix:///var/run/docker.sock}: run 'bash scripts/docker/engine.sh start' first"; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Short content hash of stdin: the cache key of whatever produced it.
content_key() { sha256sum | cut -c1-12; }

# The Debian mirror apt already uses on this machine (so air-gapped hosts keep their proxy/mirror).
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -1)
  if [ -z "$uri" ]; then
    uri=$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}' | grep -v -- '-security' | grep -i debian | head -1)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# Runs a command, printing a heartbeat every 30 s so long steps show they are alive.
with_heartbeat() {
  local what="$1"; shift
  local start; start=$(date +%s)
  ( while sleep 30; do log "$what: still running ($(( $(date +%s) - start ))s)"; done ) &
  local heartbeat=$!
  local rc=0
  "$@" || rc=$?
  kill "$heartbeat" 2>/dev/null; wait "$heartbeat" 2>/dev/null || true
  return "$rc"
}
