#!/usr/bin/env bash
# Usage: scripts/cluster/images.sh build|import
#   build   one-binary images (pause, CoreDNS, metrics-server, Traefik, busybox) as docker-archive
#           tarballs in $MLOPS_CACHE_DIR/cluster/images, keyed by version; no registry, no Docker engine
#   import  imports them into the cluster containerd's k8s.io namespace (containerd must run)
# Image names are printed by `images.sh names` (the manifests in scripts/cluster/addons use them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

IMAGES_DIR="$CLUSTER_CACHE/images"

# Bump when write_archive lays images out differently: cached tarballs are keyed by it.
IMAGES_LAYOUT=2

# name|version|binary|entrypoint path in the image
image_specs() {
  echo "pause|$KUBERNETES_VERSION|$PAUSE_BIN|/pause"
  echo "coredns|$COREDNS_VERSION|$COREDNS_BIN|/coredns"
  echo "metrics-server|$METRICS_SERVER_VERSION|$METRICS_SERVER_BIN|/metrics-server"
  echo "traefik|$TRAEFIK_VERSION|$TRAEFIK_BIN|/traefik"
  # Debian's static busybox: the small test pods' image (httpd, nslookup, wget, sleep).
  echo "busybox|$(busybox_version)|$(command -v busybox || echo /bin/busybox)|/bin/busybox"
}
busybox_version() {
  local version
  version=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null) || die "busybox-static is not installed: bash scripts/packages.sh install cluster"
  echo "$version" | sed 's/^[0-9]*://; s/[^A-Za-z0-9_.-]/_/g'
}
image_ref() { echo "mlops.local/$1:$2"; }
archive_path() { echo "$IMAGES_DIR/$1-$2-layout$IMAGES_LAYOUT.tar"; }

# write_archive NAME VERSION BINARY ENTRYPOINT: a docker-archive tarball (manifest.json, config, one layer).
write_archive() {
  local name="$1" version="$2" bin="$3" entry="$4" work layer_sha config config_sha out
  out="$(archive_path "$name" "$version")"
  [ -f "$out" ] && return 0
  [ -x "$bin" ] || die "image $name needs $bin: run 'make cluster-build' first"
  work="$(mktemp -d)"
  mkdir -p "$work/rootfs$(dirname "$entry")" "$work/rootfs/tmp" "$work/rootfs/etc"
  cp "$bin" "$work/rootfs$entry"
  chmod 1777 "$work/rootfs/tmp"
  echo 'root:x:0:0:root:/:/bin/sh' >"$work/rootfs/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$work/rootfs/etc/passwd"
  if [ "$name" = busybox ]; then
    # Applet links, so pods can run `sh`, `httpd`, `nslookup`, `nc` directly. (Not wget: Debian's
    # static busybox 1.35 wget segfaults on an HTTP response here; `nc` does the same job.)
    for a in sh httpd nslookup nc sleep cat echo ls hostname; do ln -s busybox "$work/rootfs/bin/$a"; done
  fi
  mkdir -p "$work/image"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$work/rootfs" -cf "$work/image/layer.tar" .
  layer_sha="$(sha256sum "$work/image/layer.tar" | cut -d' ' -f1)"
  config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"$entry\"],\"Env\":[\"PATH=/bin:/\"],\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]}}"
  printf '%s' "$config" >"$work/image/config.json"
  config_sha="$(sha256sum "$work/image/config.json" | cut -d' ' -f1)"
  mv "$work/image/config.json" "$work/image/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$config_sha" "$(image_ref "$name" "$version")" \
    >"$work/image/manifest.json"
  mkdir -p "$IMAGES_DIR"
  tar -C "$work/image" -cf "$out.tmp" . && mv "$out.tmp" "$out"
  rm -rf "$work"
  log "image $(image_ref "$name" "$version"): $out"
}

build() {
  local name version bin entry
  # busybox-static first: its version names the busybox image (a fresh machine has not got it yet).
  ensure_packages
  while IFS='|' read -r name version bin entry; do write_archive "$name" "$version" "$bin" "$entry"; done < <(image_specs)
}

import() {
  local name version bin entry ref tarball sum marker
  build
  marker="$CLUSTER_STATE/containerd/imported"
  mkdir -p "$marker"
  while IFS='|' read -r name version bin entry; do
    ref="$(image_ref "$name" "$version")"
    tarball="$(archive_path "$name" "$version")"
    # Skip what containerd already holds from this very tarball (a warm start imports nothing).
    sum="$(cksum <"$tarball")"
    if [ "$(cat "$marker/$name" 2>/dev/null)" = "$sum" ] && ctr_ images ls -q "name==$ref" | grep -qx "$ref"; then continue; fi
    ctr_ images import "$tarball" >/dev/null || die "importing $ref into containerd failed"
    echo "$sum" >"$marker/$name"
    log "imported $ref into containerd (k8s.io)"
  done < <(image_specs)
}

names() {
  local name version bin entry
  while IFS='|' read -r name version bin entry; do
    printf 'IMAGE_%s=%s\n' "$(echo "$name" | tr 'a-z-' 'A-Z_')" "$(image_ref "$name" "$version")"
  done < <(image_specs)
}

case "${1:-}" in
  build) hold_build_lock && build ;;
  import) import ;;
  names) names ;;
  *) die "usage: images.sh build|import|names" ;;
esac
