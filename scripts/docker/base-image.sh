#!/usr/bin/env bash
# Usage: scripts/docker/base-image.sh [python|postgres|nginx|seaweedfs|all]   (default: all)
#
# Builds local stand-ins for the default public images (python:3.12-slim, postgres, nginx, an S3
# object store) from Debian packages, for engines that cannot pull: the documented air-gapped path.
#   python       debootstrap (minbase + BASE_PACKAGES) -> rootfs tarball cached under
#                $MLOPS_CACHE_DIR/docker/rootfs/, `docker import`ed as local/python-base:<suite>-<key>
#   postgres     FROM the python base + Debian's postgresql   (scripts/docker/standins/postgres)
#   nginx        FROM the python base + Debian's nginx        (scripts/docker/standins/nginx)
#   seaweedfs    FROM the python base + SeaweedFS `weed`      (scripts/docker/standins/seaweedfs)
# Tags are keyed by content (package list, stand-in files, weed version), so a tag that exists is
# reused and nothing is rebuilt. Prints one `<role>=<image>` line per image on stdout.
# Each stand-in is also tagged local/<role>:<suite> (e.g. local/postgres:bookworm), moved to the newest
# build: a stable name for stacks that cannot follow the content keys (Pulumi.cluster.yaml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PACKAGES="python3 python3-venv ca-certificates"
# Bump when the way the rootfs is made changes (import flags, cleanup), to get a new key.
ROOTFS_RECIPE_VERSION=1
STANDINS_DIR="$REPO_ROOT/scripts/docker/standins"
# One pin for the whole repo: the toolchain's versions file.
VERSIONS_FILE="$REPO_ROOT/scripts/toolchain/versions.env"
if [ -z "${SEAWEEDFS_VERSION:-}" ] && [ -f "$VERSIONS_FILE" ]; then SEAWEEDFS_VERSION=$(sed -n 's/^SEAWEEDFS_VERSION=//p' "$VERSIONS_FILE"); fi
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"

python_base_tag() {
  local key; key=$(printf '%s|%s|%s' "$DEBIAN_SUITE" "$BASE_PACKAGES" "$ROOTFS_RECIPE_VERSION" | content_key)
  echo "local/python-base:$DEBIAN_SUITE-$key"
}

build_rootfs_tarball() {
  local tarball="$1"
  bash "$REPO_ROOT/scripts/packages.sh" install docker
  local mirror; mirror=$(debian_mirror)
  local work; work=$(mktemp -d "$DOCKER_CACHE_DIR/rootfs/.build.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$work'" RETURN
  log "debootstrap $DEBIAN_SUITE (minbase + ${BASE_PACKAGES// /,}) from $mirror"
  with_heartbeat debootstrap with_quiet_log "$work/debootstrap.log" \
    debootstrap --variant=minbase --include="${BASE_PACKAGES// /,}" "$DEBIAN_SUITE" "$work/rootfs" "$mirror"
  # Package caches and lists are rebuilt by `apt-get update` in derived images; keep the base small.
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/log/"*.log
  log "packing rootfs ($(du -sh "$work/rootfs" | cut -f1))"
  tar -C "$work/rootfs" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
}

with_quiet_log() {
  local logfile="$1"; shift
  "$@" >"$logfile" 2>&1 || { tail -30 "$logfile" >&2; return 1; }
}

ensure_python_base() {
  local tag; tag=$(python_base_tag)
  if image_exists "$tag"; then log "python base $tag exists"; echo "pythonBase=$tag"; return; fi
  mkdir -p "$DOCKER_CACHE_DIR/rootfs"
  local tarball="$DOCKER_CACHE_DIR/rootfs/python-base-${tag##*:}.tar"
  if [ -f "$tarball" ]; then log "rootfs tarball cached: $tarball"; else build_rootfs_tarball "$tarball"; fi
  log "docker import $tag"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$tarball" "$tag" >/dev/null
  log "python base $tag: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
  echo "pythonBase=$tag"
}

weed_binary() {
  # The toolchain script builds and caches it (the same binary the other integration tests use).
  if [ -f "$REPO_ROOT/scripts/toolchain.sh" ]; then
    bash "$REPO_ROOT/scripts/toolchain.sh" seaweedfs | tail -1
    return
  fi
  local built="$MLOPS_CACHE_DIR/seaweedfs/$SEAWEEDFS_VERSION/weed"
  if [ -x "$built" ]; then echo "$built"; return; fi
  command -v go >/dev/null 2>&1 || die "building SeaweedFS needs Go (or set SEAWEEDFS_WEED to a weed binary)"
  log "building SeaweedFS weed $SEAWEEDFS_VERSION with go (a few minutes)"
  mkdir -p "$(dirname "$built")"
  with_heartbeat "go install weed" env GOBIN="$(dirname "$built")" CGO_ENABLED=0 \
    go install "github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_VERSION" >&2
  echo "$built"
}

# local/<role>:<suite>-<key> -> also local/<role>:<suite>, the name that stays when the key changes.
stable_tag() {
  docker tag "$1" "${1%-*}"
}

# Builds a stand-in FROM the python base with the files in standins/<role>/ (+ extra files).
ensure_standin() {
  local role="$1"; shift
  local base; base=$(python_base_tag)
  image_exists "$base" || ensure_python_base >/dev/null
  local dir="$STANDINS_DIR/$role"
  # Extra files come as name=path; their content is part of the key (e.g. the weed binary).
  local key; key=$( { echo "$base"; cat "$dir"/*; for extra in "$@"; do cat "${extra#*=}"; done; } | content_key)
  local tag="local/$role:$DEBIAN_SUITE-$key"
  if image_exists "$tag"; then log "$role stand-in $tag exists"; stable_tag "$tag"; echo "$role=$tag"; return; fi
  local context; context=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$context'" RETURN
  cp "$dir"/* "$context/"
  for extra in "$@"; do cp "${extra#*=}" "$context/${extra%%=*}"; done
  log "building $tag"
  with_heartbeat "build $role" with_quiet_log "$context.log" \
    docker build --network host --build-arg "BASE=$base" -t "$tag" "$context"
  rm -f "$context.log"
  log "$role stand-in $tag: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
  stable_tag "$tag"
  echo "$role=$tag"
}

main() {
  require_engine
  local what="${1:-all}"
  case "$what" in
    python) ensure_python_base ;;
    postgres | nginx) ensure_standin "$what" ;;
    seaweedfs)
      local weed="${SEAWEEDFS_WEED:-}"; [ -n "$weed" ] || weed=$(weed_binary)
      [ -x "$weed" ] || die "no SeaweedFS weed binary at '$weed'"
      ensure_standin seaweedfs "weed=$weed" ;;
    all)
      ensure_python_base
      ensure_standin postgres
      ensure_standin nginx
      main seaweedfs ;;
    *) echo "usage: $0 [python|postgres|nginx|seaweedfs|all]" >&2; exit 2 ;;
  esac
}

main "$@"
