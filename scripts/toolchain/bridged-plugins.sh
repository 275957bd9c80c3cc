# Step: the Terraform-bridged resource plugins (docker, random, postgresql) at the versions our npm SDKs ask
# the engine for. Neither a release binary nor the provider Go modules can be downloaded here, so each one
# comes, in this order, from:
#   1. a plugin already installed (our PULUMI_HOME, or the user's own ~/.pulumi),
#   2. our cache, $TOOLCHAIN_CACHE/pulumi-<name>-<version>/ (built before),
#   3. a source bundle pulumi-<name>-<version>-src.tar.gz in $MLOPS_PLUGIN_SOURCES (default: the shared/
#      folder beside the clone), checked against its SHA256SUMS, extracted into the cache and built with its
#      build.sh (Go dependencies from the Go module proxy; the sources folder stays read-only),
#   4. `pulumi plugin install resource <name> <version>` (needs internet: Pulumi's release download).

BRIDGED_PLUGINS=(docker random postgresql)
MLOPS_PLUGIN_SOURCES="${MLOPS_PLUGIN_SOURCES:-$REPO_ROOT/../shared/vendor}"

# sdk_plugin_version NAME: the plugin version node_modules/@pulumi/NAME requests (its package.json
# "pulumi.version"), so package.json stays the one place that pins it.
sdk_plugin_version() {
  local pkg="$REPO_ROOT/node_modules/@pulumi/$1/package.json"
  [ -f "$pkg" ] || die "$pkg is missing: run \`make deps\` first"
  node -e 'const p = require(process.argv[1]); process.stdout.write((p.pulumi && p.pulumi.version) || p.version)' "$pkg"
}

bridged_cache_dir() { echo "$TOOLCHAIN_CACHE/pulumi-$1-$2"; }
bridged_bundle() { echo "$MLOPS_PLUGIN_SOURCES/pulumi-$1-$2-src.tar.gz"; }

# plugin_in_home HOME NAME VERSION: true when HOME/plugins holds a complete install of that plugin
# (Pulumi leaves a `.partial` marker beside an interrupted one).
plugin_in_home() {
  local dir="$1/plugins/resource-$2-v$3"
  [ -x "$dir/pulumi-resource-$2" ] && [ ! -e "$dir.partial" ]
}

# verify_bundle TARBALL: its SHA-256 must be the one SHA256SUMS (beside it) lists; no entry is an error.
verify_bundle() {
  local dir file expected actual
  dir="$(dirname "$1")" file="$(basename "$1")"
  [ -f "$dir/SHA256SUMS" ] || die "$dir/SHA256SUMS is missing: cannot check $file"
  expected="$(awk -v f="$file" '$2 == f || $2 == "*" f { print $1 }' "$dir/SHA256SUMS")"
  [ -n "$expected" ] || die "$dir/SHA256SUMS has no line for $file"
  actual="$(sha256sum "$1" | cut -d' ' -f1)"
  [ "$actual" = "$expected" ] || die "$1: SHA-256 is $actual, SHA256SUMS says $expected (corrupt or replaced bundle)"
}

# build_bridged_plugin NAME VERSION TARBALL: extract into a temp folder of the cache, run the bundle's
# build.sh at low priority, keep only the binary (and a build record with the measured times).
build_bridged_plugin() {
  require_go "the $1 plugin"
  local name="$1" version="$2" tarball="$3" cache work src timing
  cache="$(bridged_cache_dir "$name" "$version")"
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.build.XXXXXX")"
  src="$work/pulumi-$name-$version-src"
  timing="$work/time"
  (
    tar -xzf "$tarball" -C "$work" --no-same-owner --no-same-permissions &&
      [ -f "$src/build.sh" ] && cd "$src" &&
      export GOTOOLCHAIN="$(go_toolchain_for provider)" VERSION="$version" &&
      TIMEFORMAT="%R s wall, %U s user + %S s sys CPU" &&
      { time nice -n 10 sh ./build.sh; } 2>"$timing.err" &&
      tail -n1 "$timing.err" >"$timing"
  ) || { cat "$timing.err" 2>/dev/null; rm -rf "$work"; return 1; }
  [ -x "$src/bin/pulumi-resource-$name" ] || { echo "build.sh left no bin/pulumi-resource-$name" >&2; rm -rf "$work"; return 1; }
  printf 'built %s from %s (sha256 %s): %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename "$tarball")" \
    "$(sha256sum "$tarball" | cut -d' ' -f1)" "$(cat "$timing")" >"$cache/build.txt"
  mv -f "$src/bin/pulumi-resource-$name" "$cache/pulumi-resource-$name"
  rm -rf "$work"
}

# ensure_bridged_binary NAME VERSION: sources 2 and 3 above, without the CLI; true when the cache has it.
ensure_bridged_binary() {
  local name="$1" version="$2" cache tarball
  cache="$(bridged_cache_dir "$name" "$version")"
  if [ -x "$cache/pulumi-resource-$name" ]; then
    log "$name plugin v$version: cached at $cache ($(sed 's/^built //' "$cache/build.txt" 2>/dev/null))"
    return 0
  fi
  tarball="$(bridged_bundle "$name" "$version")"
  [ -f "$tarball" ] || return 1
  step "checking $(basename "$tarball") against SHA256SUMS" verify_bundle "$tarball"
  heartbeat "building the $name plugin v$version from $tarball (nice -n 10; cold Go caches: 5-10 min)" \
    build_bridged_plugin "$name" "$version" "$tarball"
  log "$name plugin v$version: $(cat "$cache/build.txt")"
}

# ensure_bridged_plugin NAME: installs NAME at the SDK's version into PULUMI_HOME (needs $PULUMI_CLI).
ensure_bridged_plugin() {
  local name="$1" version cache user_home="$HOME/.pulumi"
  version="$(sdk_plugin_version "$name")"
  cache="$(bridged_cache_dir "$name" "$version")"
  if plugin_in_home "$PULUMI_HOME" "$name" "$version"; then
    log "$name plugin v$version: installed in $PULUMI_HOME"
  elif [ "$PULUMI_HOME" != "$user_home" ] && plugin_in_home "$user_home" "$name" "$version"; then
    step "installing the $name plugin v$version from $user_home" "$PULUMI_CLI" plugin install resource "$name" "$version" \
      --file "$user_home/plugins/resource-$name-v$version/pulumi-resource-$name" --reinstall
  elif ensure_bridged_binary "$name" "$version"; then
    step "installing the $name plugin v$version into PULUMI_HOME=$PULUMI_HOME" "$PULUMI_CLI" plugin install resource "$name" \
      "$version" --file "$cache/pulumi-resource-$name" --reinstall
  else
    log "$name plugin v$version: no bundle at $(bridged_bundle "$name" "$version") (MLOPS_PLUGIN_SOURCES); downloading it"
    local started=$SECONDS
    "$PULUMI_CLI" plugin install resource "$name" "$version" ||
      die "no $name plugin v$version: without internet, put pulumi-$name-$version-src.tar.gz and its SHA256SUMS in a folder and set MLOPS_PLUGIN_SOURCES to it"
    log "pulumi plugin install resource $name $version: done in $((SECONDS - started))s"
  fi
}

ensure_bridged_plugins() {
  local name
  for name in "${BRIDGED_PLUGINS[@]}"; do ensure_bridged_plugin "$name"; done
}

# Only the binaries, for a machine where the CLI is still being built: `scripts/toolchain.sh plugin-binaries`.
ensure_bridged_binaries() {
  local name version
  for name in "${BRIDGED_PLUGINS[@]}"; do
    version="$(sdk_plugin_version "$name")"
    ensure_bridged_binary "$name" "$version" || die "no bundle for the $name plugin v$version at $(bridged_bundle "$name" "$version")"
  done
}

# check_bridged_plugins: one line per plugin for `scripts/toolchain.sh check`; non-zero when one is missing.
check_bridged_plugins() {
  local name version missing=0
  for name in "${BRIDGED_PLUGINS[@]}"; do
    version="$(sdk_plugin_version "$name")"
    if plugin_in_home "$PULUMI_HOME" "$name" "$version"; then
      check_item OK "$name plugin v$version" "$PULUMI_HOME/plugins/resource-$name-v$version"
    else
      check_item MISSING "$name plugin v$version" "not installed in $PULUMI_HOME/plugins"
      missing=1
    fi
  done
  return "$missing"
}

# verify_random_plugin: an inline Automation-API program creates a RandomPassword (what every tracking
# phase does) on a throwaway backend; once per installed version.
verify_random_plugin() {
  local version marker
  version="$(sdk_plugin_version random)"
  marker="$(bridged_cache_dir random "$version")/verified"
  if [ -f "$marker" ] && plugin_in_home "$PULUMI_HOME" random "$version"; then
    log "random plugin check: passed before ($(cat "$marker"))"
    return
  fi
  step "random plugin check (inline program creates a RandomPassword, keeps it, stores it encrypted)" \
    env PATH="$(dirname "$PULUMI_CLI"):$PATH" "$REPO_ROOT/node_modules/.bin/tsx" "$TOOLCHAIN_DIR/verify/randomPassword.ts"
  mkdir -p "$(dirname "$marker")"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$marker"
}
