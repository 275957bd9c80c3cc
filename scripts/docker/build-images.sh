#!/usr/bin/env bash
# Usage: scripts/docker/build-images.sh [--base IMAGE] [--tag TAG] [--registry PREFIX] [--online] [trainer|mlflow|serving ...]
#
# Builds our images (default: all three) as `[<registry>/]mlops-<role>:<tag>` from images/<role>/.
# First the shared venv image (images/python-deps, tagged by a hash of lock + base): its context is
# staged outside the repo with python/requirements.lock and a wheelhouse of exactly the locked wheels
# for the base's Python, downloaded on this host (cached under $MLOPS_CACHE_DIR/docker/wheels/), so
# the engine needs no network. --online skips the wheelhouse: pip inside the build uses the index.
#   --base      PYTHON_BASE for the Dockerfiles (env PYTHON_BASE). Default: python:3.12-slim when the
#               engine has it, else the local Debian stand-in from scripts/docker/base-image.sh.
#   --tag       image tag (env IMAGE_TAG, default IMAGE_DEFAULT_TAG of images/images.env; never `latest`)
#   --registry  registry prefix (env IMAGE_REGISTRY, default none)
# Prints `<role>=<image>` per image on stdout; progress, timings and sizes on stderr.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base="${PYTHON_BASE:-}"
# Names, default tag and user of our images: one owner for TypeScript, shell and the Dockerfiles.
# shellcheck source=../../images/images.env
source "$REPO_ROOT/images/images.env"
tag="${IMAGE_TAG:-$IMAGE_DEFAULT_TAG}"
registry="${IMAGE_REGISTRY:-}"
online=false
roles=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --registry) registry="$2"; shift 2 ;;
    --online) online=true; shift ;;
    -*) die "unknown argument '$1': expected --base IMAGE, --tag TAG, --registry PREFIX, --online or one of: $IMAGE_ROLES" ;;
    *)
      [[ " $IMAGE_ROLES " == *" $1 "* ]] || die "unknown image '$1': expected one of: $IMAGE_ROLES"
      roles+=("$1"); shift ;;
  esac
done
# shellcheck disable=SC2206  # a space-separated list by design
[ ${#roles[@]} -gt 0 ] || roles=($IMAGE_ROLES)
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag '$tag': expected an image tag such as 0.1.0"
[ "$tag" != latest ] || die "--tag latest: expected a pinned tag such as 0.1.0"
LOCK_FILE="$REPO_ROOT/python/requirements.lock"
[ -f "$LOCK_FILE" ] || die "missing python/requirements.lock (the pinned Python dependencies of every image)"

require_engine

if [ -z "$base" ]; then
  if image_exists python:3.12-slim; then base=python:3.12-slim
  else
    log "python:3.12-slim is not on this engine: using the local Debian stand-in (scripts/docker/base-image.sh)"
    base=$(bash "$REPO_ROOT/scripts/docker/base-image.sh" python | sed -n 's/^pythonBase=//p')
  fi
fi
image_exists "$base" || die "base image '$base' is not on this engine: pull it, or build the stand-in with scripts/docker/base-image.sh python and pass --base"

# The wheelhouse must match the Python inside the base image, not the host's.
python_minor=$(docker run --rm --entrypoint python3 "$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
log "base $base (Python $python_minor)"

# Every manylinux tag a glibc-2.36 base (Debian 12, python:3.12-slim) can run; pip does not expand them itself.
platform_flags() {
  local arch; arch=$(uname -m)
  for minor in $(seq 5 36); do printf -- '--platform manylinux_2_%s_%s ' "$minor" "$arch"; done
  printf -- '--platform manylinux2014_%s --platform manylinux2010_%s --platform manylinux1_%s' "$arch" "$arch" "$arch"
}

wheelhouse() {
  local key; key=$( { cat "$LOCK_FILE"; echo "$python_minor $(uname -m)"; } | content_key)
  local dir="$DOCKER_CACHE_DIR/wheels/cp${python_minor/./}-$key"
  if [ -f "$dir/.complete" ]; then log "wheelhouse cached: $dir"; echo "$dir"; return; fi
  rm -rf "$dir.partial"; mkdir -p "$dir.partial"
  log "downloading the locked wheels for Python $python_minor into $dir"
  with_heartbeat "pip download" python3 -m pip download --quiet --disable-pip-version-check \
    --cache-dir "$MLOPS_CACHE_DIR/pip" --no-deps --only-binary=:all: \
    --python-version "$python_minor" --implementation cp $(platform_flags) \
    --dest "$dir.partial" -r "$LOCK_FILE" >&2
  touch "$dir.partial/.complete"
  rm -rf "$dir"; mv "$dir.partial" "$dir"
  # A new lock makes the older wheelhouses for this Python dead weight.
  find "$DOCKER_CACHE_DIR/wheels" -mindepth 1 -maxdepth 1 -name "cp${python_minor/./}-*" ! -name "$(basename "$dir")" -exec rm -rf {} +
  log "wheelhouse: $(find "$dir" -name '*.whl' | wc -l) wheels, $(du -sh "$dir" | cut -f1)"
  echo "$dir"
}

wheels=""
pip_options=""
if [ "$online" = false ]; then
  wheels=$(wheelhouse)
  pip_options="--no-index --find-links /tmp/build/wheels"
fi

prefix=""; [ -n "$registry" ] && prefix="${registry%/}/"
mkdir -p "$DOCKER_CACHE_DIR/contexts"

# docker build with the output in a log file, shown only on failure; prints nothing on stdout.
build() {
  local ref="$1" context="$2"; shift 2
  local logfile; logfile=$(mktemp "$DOCKER_CACHE_DIR/contexts/build.XXXXXX.log")
  local started; started=$(date +%s)
  log "building $ref"
  if ! with_heartbeat "build $ref" docker build "$@" -t "$ref" "$context" >"$logfile" 2>&1; then
    tail -40 "$logfile" >&2
    rm -f "$logfile"
    die "building $ref failed (log above)"
  fi
  rm -f "$logfile"
  log "built $ref in $(( $(date +%s) - started ))s: $(docker image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1/1e6}'), user '$(docker image inspect --format '{{.Config.User}}' "$ref")'"
}

# The locked venv, once per (lock, base, pip options): every workload image copies it.
deps_key=$( { cat "$LOCK_FILE" "$REPO_ROOT/images/python-deps/Dockerfile" "$REPO_ROOT/images/images.env"; docker image inspect --format '{{.Id}}' "$base"; echo "$pip_options"; } | content_key)
deps_ref="${IMAGE_NAME_PREFIX}python-deps:$deps_key"
if image_exists "$deps_ref"; then
  log "dependencies image $deps_ref exists"
else
  context=$(mktemp -d "$DOCKER_CACHE_DIR/contexts/python-deps.XXXXXX")
  cp -a "$REPO_ROOT/images/python-deps/." "$context/"
  cp "$LOCK_FILE" "$context/requirements.lock"
  mkdir -p "$context/wheels"
  # Hard links when the cache shares a filesystem with the context: no copy of the wheelhouse.
  if [ -n "$wheels" ]; then cp -al "$wheels/." "$context/wheels/" 2>/dev/null || cp -a "$wheels/." "$context/wheels/"; fi
  build "$deps_ref" "$context" --build-arg "PYTHON_BASE=$base" --build-arg "PIP_INSTALL_OPTIONS=$pip_options" --build-arg "APP_UID=$APP_USER_ID" \
    --label "org.opencontainers.image.source=mlops-pipeline/images/python-deps" || { rm -rf "$context"; exit 1; }
  rm -rf "$context"
  # Older dependency images (an earlier lock or base) are ~1 GB each; one still in use stays.
  docker image ls --format '{{.Repository}}:{{.Tag}}' "${IMAGE_NAME_PREFIX}python-deps" | grep -v -x "$deps_ref" | xargs -r docker rmi >/dev/null 2>&1 || true
fi

# Files of config/ an image reads at run time, staged into its context (this engine has no build contexts):
# the trainer checks scorers against config/scorers.json, the one owner of which scorer fits which task.
config_files_for() { [ "$1" = trainer ] && echo scorers.json; }

for role in "${roles[@]}"; do
  ref="${prefix}${IMAGE_NAME_PREFIX}$role:$tag"
  context="$REPO_ROOT/images/$role"
  staged=""
  if [ -n "$(config_files_for "$role")" ]; then
    staged=$(mktemp -d "$DOCKER_CACHE_DIR/contexts/$role.XXXXXX")
    cp -a "$context/." "$staged/"
    for file in $(config_files_for "$role"); do cp "$REPO_ROOT/config/$file" "$staged/$file"; done
    context="$staged"
  fi
  build "$ref" "$context" --build-arg "DEPS_IMAGE=$deps_ref" --build-arg "APP_UID=$APP_USER_ID" \
    --label "org.opencontainers.image.source=mlops-pipeline/images/$role" || { [ -z "$staged" ] || rm -rf "$staged"; exit 1; }
  [ -z "$staged" ] || rm -rf "$staged"
  echo "$role=$ref"
done
# Images of ours that a rebuild untagged (dangling, carrying our source label).
docker image prune --force --filter "label=org.opencontainers.image.source" >/dev/null 2>&1 || true
