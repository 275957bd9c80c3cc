#!/usr/bin/env bash
# Usage: scripts/docker/verify-packages.sh
# Runs the setup's package step (scripts/packages.sh install, all groups) in a fresh Debian root
# filesystem: a container from the Debian stand-in base (debootstrap minbase, scripts/docker/base-image.sh),
# the same start as a machine that never ran the project. The image records what `check` found missing
# before the install (/packages-before.txt) and after it (/packages-after.txt, must be empty); the build
# fails when a package cannot be installed or a probe of scripts/packages.list is still absent afterwards.
# The image is tagged by the content of the list and the installer (with its scripts/common.sh), so an unchanged list is checked once.
# Prints `image=<tag>` on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_engine

base=$(bash "$REPO_ROOT/scripts/docker/base-image.sh" python | sed -n 's/^pythonBase=//p')
[ -n "$base" ] || die "no Debian base image (scripts/docker/base-image.sh python)"
# What the check runs: the installer, its list and its shell library (the image's tag is keyed by them).
setup_files=("$REPO_ROOT/scripts/packages.sh" "$REPO_ROOT/scripts/packages.list" "$REPO_ROOT/scripts/common.sh")
key=$(cat "${setup_files[@]}" <(echo "$base") | content_key)
tag="local/packages-check:$key"
if image_exists "$tag"; then
  log "packages already verified in a fresh root for this list: $tag"
else
  context=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$context'" EXIT
  cp "${setup_files[@]}" "$context/"
  cat >"$context/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
COPY packages.sh packages.list common.sh /setup/
RUN (bash /setup/packages.sh check 2>&1 || true) > /packages-before.txt \
 && bash /setup/packages.sh install \
 && bash /setup/packages.sh check > /packages-after.txt 2>&1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
DOCKERFILE
  log "installing scripts/packages.list into a fresh Debian root ($base)"
  build_log="$context/build.log"
  if ! with_heartbeat "fresh-root package install" docker build --build-arg BASE="$base" -t "$tag" "$context" >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    die "the setup's package step failed in a fresh Debian root (scripts/packages.list)"
  fi
  log "verified: $tag"
fi
echo "image=$tag"
