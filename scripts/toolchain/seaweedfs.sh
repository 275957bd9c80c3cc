# Step: SeaweedFS `weed` (Apache-2.0), the real S3 server for tests. Built inside a writable copy of its
# module so the replace directives of its own go.mod apply (they are ignored for a dependency).

build_seaweedfs() {
  require_go "SeaweedFS"
  local work
  mkdir -p "$(dirname "$SEAWEEDFS_BIN")"
  work="$(mktemp -d "$(dirname "$SEAWEEDFS_BIN")/.build.XXXXXX")"
  (
    copy_module "$SEAWEEDFS_MODULE" "$SEAWEEDFS_VERSION" "$work/src" &&
      cd "$work/src" &&
      GOTOOLCHAIN="$(go_toolchain_for .)" CGO_ENABLED=0 go build -mod=readonly -o "$work/weed" -ldflags "-s -w" ./weed &&
      "$work/weed" version >/dev/null
  ) || { rm -rf "$work"; return 1; }
  mv -f "$work/weed" "$SEAWEEDFS_BIN"
  rm -rf "$work"
}

ensure_seaweedfs() {
  # One build at a time: the test setup and the Docker images' SeaweedFS stand-in (built alongside, in the
  # background) may both ask for it; the second waits for the first and then finds it cached.
  hold_lock "$(dirname "$SEAWEEDFS_BIN")/.build.lock" SeaweedFS
  if [ -x "$SEAWEEDFS_BIN" ] && "$SEAWEEDFS_BIN" version >/dev/null 2>&1; then
    log "SeaweedFS: cached at $SEAWEEDFS_BIN"
  else
    heartbeat "building SeaweedFS weed $SEAWEEDFS_VERSION from the Go proxy (cold: ~10 min)" build_seaweedfs
  fi
  log "SeaweedFS: $("$SEAWEEDFS_BIN" version 2>/dev/null | head -n1)"
  release_lock
}
