#!/usr/bin/env bash
# Usage: scripts/cluster/build.sh [all|kubernetes|etcd|coredns|metrics-server|traefik|pause|check]
# Builds every binary of the local cluster from the Go module proxy (and pause.c with gcc) into
# $MLOPS_CACHE_DIR/cluster, keyed by version; a cached binary is never rebuilt. Go builds run under
# `nice -n 19` (they must only use idle CPU on a shared machine), with -trimpath and -ldflags "-s -w".
# Each step prints its wall and CPU time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Binaries run inside one-file images (no libc) or as host processes: static everywhere. The same
# flags as the toolchain's Go builds, so both share Go's build cache.
case " ${GOFLAGS:-} " in *" -trimpath "*) ;; *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" ;; esac
export CGO_ENABLED=0

# timed "<what>" cmd...: runs cmd niced, prints wall / user / sys seconds of it and its children.
timed() {
  local what="$1" tfile
  shift
  tfile="$(mktemp)"
  log "$what ..."
  if ! /usr/bin/time -o "$tfile" -f '%e %U %S' nice -n 19 "$@"; then
    rm -f "$tfile"
    die "$what failed (see the output above)"
  fi
  read -r wall user sys <"$tfile"
  rm -f "$tfile"
  log "$what: wall ${wall}s, cpu $(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.0f", u+s}')s (user ${user}s sys ${sys}s)"
}

# A wrapper module: `go install pkg@version` cannot build kubernetes (its go.mod replaces the staging
# modules with ./staging folders, and replaces do not apply to a dependency), nor etcd's root module.
new_wrapper() {
  local dir="$1" module="$2"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && go mod init "$module" >/dev/null 2>&1)
}

# write_tools_go DIR PKG...: a tools.go that makes `go mod tidy` resolve the commands we build.
write_tools_go() {
  local dir="$1" p
  shift
  {
    printf '//go:build tools\n\n// Package tools pins the commands this module builds.\npackage tools\n\nimport (\n'
    for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/tools.go"
}

kubernetes_ldflags() {
  local minor="${KUBERNETES_VERSION#v1.}"
  minor="${minor%%.*}"
  local v=k8s.io/component-base/version
  # Clients (the Pulumi kubernetes provider, kubectl) read /version: without these it says v0.0.0-master.
  echo "-s -w -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor \
    -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z \
    -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION \
    -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
}

build_kubernetes() {
  local src="$CLUSTER_CACHE/src/kubernetes-$KUBERNETES_VERSION" out="$KUBE_BIN_DIR" kdir pkgs=()
  local b
  for b in "${KUBE_BINARIES[@]}"; do
    [ -x "$out/$b" ] || { pkgs=(); break; }
    pkgs+=("$b")
  done
  if [ "${#pkgs[@]}" = "${#KUBE_BINARIES[@]}" ]; then
    log "kubernetes $KUBERNETES_VERSION: cached in $out"
    return 0
  fi
  require_go "kubernetes"
  new_wrapper "$src" mlops.local/cluster/kubernetes
  kdir="$(module_dir k8s.io/kubernetes "$KUBERNETES_VERSION")"
  local targets=()
  for b in "${KUBE_BINARIES[@]}"; do targets+=("k8s.io/kubernetes/cmd/$b"); done
  write_tools_go "$src" "${targets[@]}"
  (
    cd "$src"
    go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
    # One replace per staging module, pointing at its published release.
    grep -E '=> ./staging' "$kdir/go.mod" | awk '{print $1}' | while read -r m; do
      echo "-replace=$m=$m@$KUBERNETES_STAGING_VERSION"
    done | xargs go mod edit
  )
  timed "kubernetes $KUBERNETES_VERSION: go mod tidy" sh -c "cd '$src' && go mod tidy"
  mkdir -p "$out.tmp"
  timed "kubernetes $KUBERNETES_VERSION: one go build of ${KUBE_BINARIES[*]}" \
    sh -c "cd '$src' && go build -ldflags \"$(kubernetes_ldflags)\" -o '$out.tmp/' ${targets[*]}"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_etcd() {
  [ -x "$ETCD_BIN" ] && { log "etcd $ETCD_VERSION: cached at $ETCD_BIN"; return 0; }
  local src="$CLUSTER_CACHE/src/etcd-$ETCD_VERSION"
  new_wrapper "$src" mlops.local/cluster/etcd
  # The proxy does not serve etcd's root module (local replaces): call the server's main directly.
  cat >"$src/main.go" <<'GO'
// Command etcd is etcd's own main, built from the published server module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$src" && go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  timed "etcd $ETCD_VERSION: go mod tidy" sh -c "cd '$src' && go mod tidy"
  mkdir -p "$(dirname "$ETCD_BIN")"
  timed "etcd $ETCD_VERSION: go build" sh -c "cd '$src' && go build -ldflags '-s -w' -o '$ETCD_BIN.tmp' . && mv '$ETCD_BIN.tmp' '$ETCD_BIN'"
}

# go_install_to MODULE/PKG VERSION DEST LDFLAGS: `go install pkg@version` into a private GOBIN.
go_install_to() {
  local pkg="$1" version="$2" dest="$3" ldflags="$4" gobin
  gobin="$(dirname "$dest")/.gobin"
  rm -rf "$gobin" && mkdir -p "$gobin"
  timed "$(basename "$dest") $version: go install" env GOBIN="$gobin" go install -ldflags "$ldflags" "$pkg@$version"
  mv -f "$gobin/$(basename "$pkg")" "$dest"
  rm -rf "$gobin"
}

build_coredns() {
  [ -x "$COREDNS_BIN" ] && { log "coredns $COREDNS_VERSION: cached at $COREDNS_BIN"; return 0; }
  go_install_to github.com/coredns/coredns "$COREDNS_VERSION" "$COREDNS_BIN" "-s -w"
}

build_metrics_server() {
  [ -x "$METRICS_SERVER_BIN" ] && { log "metrics-server $METRICS_SERVER_VERSION: cached at $METRICS_SERVER_BIN"; return 0; }
  go_install_to sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION" "$METRICS_SERVER_BIN" \
    "-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
}

build_traefik() {
  [ -x "$TRAEFIK_BIN" ] && { log "traefik $TRAEFIK_VERSION: cached at $TRAEFIK_BIN"; return 0; }
  local src="$CLUSTER_CACHE/src/traefik-$TRAEFIK_VERSION" tdir
  new_wrapper "$src" mlops.local/cluster/traefik
  write_tools_go "$src" github.com/traefik/traefik/v3/cmd/traefik
  tdir="$(module_dir github.com/traefik/traefik/v3 "$TRAEFIK_VERSION")"
  # Traefik's own module-to-module replaces and excludes (forks of a few libraries) must be repeated here:
  # like kubernetes' staging replaces, they do not apply to a dependency. Its go line too.
  (
    cd "$src"
    go mod edit -require="github.com/traefik/traefik/v3@$TRAEFIK_VERSION" \
      -go="$(sed -n 's/^go //p' "$tdir/go.mod")"
    sed -n '/^replace (/,/^)/p' "$tdir/go.mod" | awk '$2 == "=>" && NF == 4 {print "-replace=" $1 "=" $3 "@" $4}' | xargs -r go mod edit
    sed -n 's/^exclude \([^ ]*\) \([^ ]*\)$/-exclude=\1@\2/p' "$tdir/go.mod" | xargs -r go mod edit
  )
  timed "traefik $TRAEFIK_VERSION: go mod tidy" sh -c "cd '$src' && go mod tidy"
  mkdir -p "$(dirname "$TRAEFIK_BIN")"
  timed "traefik $TRAEFIK_VERSION: go build" sh -c "cd '$src' && go build \
    -ldflags '-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION' \
    -o '$TRAEFIK_BIN.tmp' github.com/traefik/traefik/v3/cmd/traefik && mv '$TRAEFIK_BIN.tmp' '$TRAEFIK_BIN'"
}

build_pause() {
  [ -x "$PAUSE_BIN" ] && { log "pause $KUBERNETES_VERSION: cached at $PAUSE_BIN"; return 0; }
  local kdir
  ensure_packages
  kdir="$(module_dir k8s.io/kubernetes "$KUBERNETES_VERSION")"
  mkdir -p "$(dirname "$PAUSE_BIN")"
  timed "pause $KUBERNETES_VERSION: gcc -static pause.c" \
    gcc -Os -static -Wall -DVERSION="$KUBERNETES_VERSION" -o "$PAUSE_BIN" "$kdir/build/pause/linux/pause.c"
  strip "$PAUSE_BIN"
}

# check: lists what is not built yet; exit 1 if anything is missing.
check() {
  local missing=() b
  for b in "${KUBE_BINARIES[@]}"; do [ -x "$KUBE_BIN_DIR/$b" ] || missing+=("$b"); done
  for b in "$ETCD_BIN" "$COREDNS_BIN" "$METRICS_SERVER_BIN" "$TRAEFIK_BIN" "$PAUSE_BIN"; do
    [ -x "$b" ] || missing+=("$(basename "$b")")
  done
  if [ "${#missing[@]}" = 0 ]; then echo "cluster binaries: all built in $CLUSTER_CACHE"; return 0; fi
  echo "cluster binaries not built: ${missing[*]} (run 'make cluster-build')"
  return 1
}

[ "${1:-all}" = check ] || hold_build_lock
case "${1:-all}" in
  check) check ;;
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  coredns) build_coredns ;;
  metrics-server) build_metrics_server ;;
  traefik) build_traefik ;;
  pause) build_pause ;;
  all) build_pause; build_kubernetes; build_etcd; build_coredns; build_metrics_server; build_traefik ;;
  *) die "unknown step '$1' (expected all, kubernetes, etcd, coredns, metrics-server, traefik, pause)" ;;
esac
