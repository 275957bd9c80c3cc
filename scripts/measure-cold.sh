#!/usr/bin/env bash
# Usage: scripts/measure-cold.sh [--keep] [command...]   (default: .ci/run, i.e. make test and the benchmarks)
# Measures what CI sees on a fresh machine: a clean clone of HEAD next to a link to ../shared, every
# build cache pointed at empty folders (MLOPS_CACHE_DIR, GOCACHE, GOMODCACHE, the npm and pip caches)
# and this project's Docker images removed from the engine (they are rebuilt from Debian packages).
# The command's output goes to <work>/run.log with a timestamp per line; the last line printed is
# `cold_run_seconds=<n> exit=<rc>`. The folders are removed afterwards (about 30 GB) unless --keep.
# Debian packages (docker.io, containerd, Go itself) stay installed: they are the machine, not a cache.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
keep=""
[ "${1:-}" = --keep ] && { keep=1; shift; }
[ "$#" -gt 0 ] || set -- bash .ci/run

work="$(mktemp -d "${TMPDIR:-/tmp}/mlops-cold.XXXXXX")"
echo "[cold] work folder: $work (log: $work/run.log)"
git clone -q "$repo" "$work/main"
ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
mkdir -p "$work/cache/mlops" "$work/cache/go-build" "$work/cache/go-mod" "$work/cache/npm" "$work/cache/pip"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  images="$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(local/|mlops-|mlops\.local/)' || true)"
  if [ -n "$images" ]; then
    echo "[cold] removing this project's Docker images: $(echo "$images" | wc -l)"
    echo "$images" | xargs -r docker rmi -f >/dev/null
  fi
fi

started=$(date +%s)
rc=0
(
  cd "$work/main"
  export MLOPS_CACHE_DIR="$work/cache/mlops" GOCACHE="$work/cache/go-build" GOMODCACHE="$work/cache/go-mod" \
    npm_config_cache="$work/cache/npm" PIP_CACHE_DIR="$work/cache/pip"
  "$@" 2>&1 | while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done
  exit "${PIPESTATUS[0]}"
) >"$work/run.log" 2>&1 || rc=$?
seconds=$(($(date +%s) - started))
grep -E '^[0-9:]{8} (=== tests:|ci: |\[(setup|toolchain|cluster) .*(done in|wall |ready in|finished|cached)|\[setup\])' "$work/run.log" | tail -n 80 || true
if [ -z "$keep" ]; then
  GOMODCACHE="$work/cache/go-mod" go clean -modcache >/dev/null 2>&1 || true # its files are read-only
  cp "$work/run.log" "${TMPDIR:-/tmp}/mlops-cold-$(date +%Y%m%d-%H%M%S).log"
  rm -rf "$work"
fi
echo "cold_run_seconds=$seconds exit=$rc"
exit "$rc"
