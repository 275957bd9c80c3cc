#!/usr/bin/env bash
# The offline Pulumi toolchain, built or found once and cached under $MLOPS_CACHE_DIR (outside the repo).
#
#   scripts/toolchain.sh            Pulumi CLI + nodejs language host + dynamic-provider plugin + kubernetes plugin
#                                   + the docker, random and postgresql plugins (bridged-plugins.sh says from where)
#   scripts/toolchain.sh core       only what the local platform needs: CLI + language host + dynamic-provider plugin
#                                   + the random plugin
#   scripts/toolchain.sh seaweedfs  SeaweedFS `weed` (S3 server for tests); prints its path as the last stdout line
#   scripts/toolchain.sh plugin-binaries  only build/cache the bridged plugins' binaries (no CLI needed)
#   scripts/toolchain.sh check      what is there; exits non-zero if a piece of the default set is missing
#
# Idempotent: a warm run only checks. Heavy Go builds go to a temp path first and are renamed into place,
# so an interrupted build never leaves a broken cache. Progress goes to stderr, results to stdout.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/toolchain/common.sh"
source "$TOOLCHAIN_DIR/pulumi-cli.sh"
source "$TOOLCHAIN_DIR/nodejs-host.sh"
source "$TOOLCHAIN_DIR/kubernetes.sh"
source "$TOOLCHAIN_DIR/bridged-plugins.sh"
source "$TOOLCHAIN_DIR/seaweedfs.sh"

KUBERNETES_RENDER_VERIFIED="$KUBERNETES_BUILD_DIR/render-verified"

verify_kubernetes_render() {
  if [ -f "$KUBERNETES_RENDER_VERIFIED" ] && kubernetes_plugin_installed; then
    log "kubernetes render check: passed before ($(cat "$KUBERNETES_RENDER_VERIFIED"))"
    return
  fi
  step "kubernetes render check (inline program renders a ConfigMap + Deployment to YAML)" \
    env PATH="$(dirname "$PULUMI_CLI"):$PATH" "$REPO_ROOT/node_modules/.bin/tsx" "$TOOLCHAIN_DIR/verify/kubernetesRender.ts"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$KUBERNETES_RENDER_VERIFIED"
}

install_all() {
  log "cache: $MLOPS_CACHE_DIR, PULUMI_HOME: $PULUMI_HOME"
  ensure_pulumi_cli
  ensure_nodejs_host
  ensure_kubernetes_plugin
  verify_kubernetes_render
  ensure_bridged_plugins
  verify_random_plugin
  log "toolchain ready in $((SECONDS - TOOLCHAIN_STARTED))s; \`source scripts/env.sh\` puts it on PATH"
}

# check_item OK|MISSING "<what>" "<detail>"
check_item() { printf '%-8s %-34s %s\n' "$1" "$2" "$3"; }

check_all() {
  local missing=0 cli host_dir
  cli="$(selected_pulumi)"
  if [ -n "$cli" ]; then
    check_item OK "Pulumi CLI" "$(cli_version "$cli") at $cli"
    host_dir="$(nodejs_host_dir "$cli")"
    host_dir="${host_dir:-$(dirname "$(readlink -f "$cli")")}"
    for plugin in pulumi-language-nodejs pulumi-resource-pulumi-nodejs; do
      if [ -x "$host_dir/$plugin" ]; then check_item OK "$plugin" "$host_dir/$plugin"
      else check_item MISSING "$plugin" "expected in $host_dir"; missing=1; fi
    done
  else
    check_item MISSING "Pulumi CLI" "none at $PULUMI_CLI_BIN_DIR/pulumi, none >= v$PULUMI_CLI_MIN_VERSION on PATH"
    missing=1
  fi
  if kubernetes_plugin_installed; then
    check_item OK "kubernetes plugin v$KUBERNETES_PLUGIN_VERSION" "$PULUMI_HOME/plugins (built from $KUBERNETES_PROVIDER_MODULE_VERSION)"
  else
    check_item MISSING "kubernetes plugin v$KUBERNETES_PLUGIN_VERSION" "not installed in $PULUMI_HOME/plugins"
    missing=1
  fi
  check_bridged_plugins || missing=1
  if [ -x "$SEAWEEDFS_BIN" ]; then check_item OK "SeaweedFS weed" "$SEAWEEDFS_BIN"
  else check_item ABSENT "SeaweedFS weed" "not built (optional here: \`scripts/toolchain.sh seaweedfs\`)"; fi
  if [ "$missing" -ne 0 ]; then
    die "toolchain incomplete: run \`make toolchain\` (scripts/toolchain.sh)"
  fi
}

install_core() {
  log "cache: $MLOPS_CACHE_DIR, PULUMI_HOME: $PULUMI_HOME"
  ensure_pulumi_cli
  ensure_nodejs_host
  # Every stack's tracking phase keeps its generated passwords as random.RandomPassword resources.
  ensure_bridged_plugin random
  verify_random_plugin
  log "core toolchain ready in $((SECONDS - TOOLCHAIN_STARTED))s (the kubernetes plugin is built by \`make toolchain\` when a stack needs it)"
}

case "${1:-all}" in
  all) install_all ;;
  core) install_core ;;
  seaweedfs)
    ensure_seaweedfs
    echo "$SEAWEEDFS_BIN"
    ;;
  plugin-binaries) ensure_bridged_binaries ;;
  check) check_all ;;
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$1' (expected: nothing, core, seaweedfs, plugin-binaries, check)" ;;
esac
