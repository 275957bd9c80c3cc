#!/usr/bin/env bash
# Usage: scripts/cluster/import-images.sh [check] [IMAGE...]
#
# Copies images from the Docker engine into the cluster containerd's k8s.io namespace (no registry:
# pods find them there and never pull). Without arguments: what Pulumi.cluster.yaml runs, i.e. the
# stand-ins under their stable names (local/postgres:bookworm, local/seaweedfs:bookworm, written by
# scripts/docker/base-image.sh) and our images at MLOPS_IMAGE_TAG (default: IMAGE_DEFAULT_TAG of images/images.env,
# the stack's images.tag).
# An image whose id containerd already holds under that name is skipped. Needs root and a running cluster.
# `check`: only verify that the Docker engine has every image (non-zero, naming the first missing one).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

check=""
if [ "${1:-}" = check ]; then check=1; shift; fi
# shellcheck source=../../images/images.env
source "$CLUSTER_DIR/../../images/images.env"
tag="${MLOPS_IMAGE_TAG:-$IMAGE_DEFAULT_TAG}"
images=("$@")
if [ "${#images[@]}" = 0 ]; then
  images=(local/postgres:bookworm local/seaweedfs:bookworm)
  for role in $IMAGE_ROLES; do images+=("$IMAGE_NAME_PREFIX$role:$tag"); done
fi

missing_image() { die "no Docker image $1: build it first (make docker-base-images, make build-train build-prod)"; }
if [ -n "$check" ]; then
  for image in "${images[@]}"; do docker image inspect "$image" >/dev/null 2>&1 || missing_image "$image"; done
  exit 0
fi

[ -S "$CONTAINERD_SOCK" ] || die "no containerd at $CONTAINERD_SOCK: start the cluster first (sudo make cluster-up)"
marker_dir="$CLUSTER_STATE/containerd/imported-docker"
mkdir -p "$marker_dir"
for image in "${images[@]}"; do
  id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || missing_image "$image"
  # containerd names x:t docker.io/library/x:t and a/b:t docker.io/a/b:t, as kubelet resolves them.
  first="${image%%/*}"
  if [[ "$image" != */* ]]; then ref="docker.io/library/$image"
  elif [[ "$first" == *.* || "$first" == *:* || "$first" == localhost ]]; then ref="$image"
  else ref="docker.io/$image"; fi
  # The Docker image id imported last under this name (as images.sh marks its own tarballs).
  marker="$marker_dir/${image//[\/:]/_}"
  if [ "$(cat "$marker" 2>/dev/null)" = "$id" ] && ctr_ images ls -q "name==$ref" | grep -qx "$ref"; then
    log "$image: already in containerd"; continue
  fi
  log "importing $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
  # Replacing an image under its name can race containerd's garbage collector: the old image's layers,
  # unreferenced from that moment, are removed while the new one is unpacked onto them ("parent snapshot
  # ... does not exist", seen here). The next attempt recreates them.
  for attempt in 1 2 3; do
    docker save "$image" | ctr_ images import - >/dev/null && break
    [ "$attempt" -lt 3 ] || die "importing $image into containerd failed (3 attempts)"
    log "importing $image: attempt $attempt failed; retrying"
    sleep 2
  done
  echo "$id" >"$marker"
done
log "images in containerd: ${images[*]}"
