# Step: the Pulumi CLI. Prefer the pinned build in the cache, then a compatible `pulumi` on PATH,
# else build v$PULUMI_CLI_VERSION from the Go proxy with the wrapper module in pulumi-cli/.

# cli_version PATH: prints the version a pulumi binary reports (empty when it does not run).
cli_version() { "$1" version 2>/dev/null | head -n1 | tr -d '[:space:]'; }

# Prints the pulumi the project will use, or nothing. Same rule as scripts/env.sh and driver/pulumiEnv.ts.
selected_pulumi() {
  if [ -x "$PULUMI_CLI_BIN_DIR/pulumi" ]; then
    echo "$PULUMI_CLI_BIN_DIR/pulumi"
    return
  fi
  local ambient
  ambient="$(command -v pulumi 2>/dev/null)" || return 0
  if version_at_least "$(cli_version "$ambient")" "$PULUMI_CLI_MIN_VERSION"; then echo "$ambient"; fi
}

build_pulumi_cli() {
  require_go "the Pulumi CLI"
  local tmp
  mkdir -p "$PULUMI_CLI_BIN_DIR"
  tmp="$(mktemp "$PULUMI_CLI_BIN_DIR/.pulumi.XXXXXX")"
  # Build in the committed wrapper module: go.mod/go.sum pin every dependency (read-only, no re-resolution).
  (cd "$TOOLCHAIN_DIR/pulumi-cli" &&
    GOTOOLCHAIN="$(go_toolchain_for .)" go build -mod=readonly -o "$tmp" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_CLI_VERSION" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) || { rm -f "$tmp"; return 1; }
  [ "$(cli_version "$tmp")" = "v$PULUMI_CLI_VERSION" ] || { rm -f "$tmp"; echo "built CLI reports '$(cli_version "$tmp")'" >&2; return 1; }
  chmod 0755 "$tmp" && mv -f "$tmp" "$PULUMI_CLI_BIN_DIR/pulumi"
}

ensure_pulumi_cli() {
  local cli
  cli="$(selected_pulumi)"
  if [ -z "$cli" ]; then
    heartbeat "building Pulumi CLI v$PULUMI_CLI_VERSION from the Go proxy (cold: 5-15 min on 2 cores, ~30 s with a warm Go build cache)" build_pulumi_cli
    cli="$PULUMI_CLI_BIN_DIR/pulumi"
  fi
  log "Pulumi CLI $(cli_version "$cli") at $cli"
  PULUMI_CLI="$cli"
}
