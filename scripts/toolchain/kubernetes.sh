# Step: the pulumi-kubernetes resource provider plugin, built from source because no release binary can
# be downloaded here. The module the Go proxy serves (commit f47bc2d6f199, 2026-01-15, see versions.env)
# lacks the files its `go:embed` needs, so: copy it out of the module cache, run its generate.go, build,
# and install it as plugin version $KUBERNETES_PLUGIN_VERSION (the version @pulumi/kubernetes requests).

KUBERNETES_PLUGIN_BIN="$KUBERNETES_BUILD_DIR/pulumi-resource-kubernetes"

build_kubernetes_provider() {
  require_go "the pulumi-kubernetes provider"
  local work
  mkdir -p "$KUBERNETES_BUILD_DIR"
  work="$(mktemp -d "$KUBERNETES_BUILD_DIR/.build.XXXXXX")"
  # (No `set -e` here: it is ignored inside a function whose caller tests its status, so chain with &&.)
  (
    copy_module "$KUBERNETES_PROVIDER_MODULE" "$KUBERNETES_PROVIDER_MODULE_VERSION" "$work/src" &&
      cd "$work/src" &&
      # Its go.mod points the sdk/v4 module at ../sdk, a sibling folder the module zip does not contain;
      # use the required sdk/v4 release from the proxy instead. -mod=mod lets go.sum gain those entries.
      go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 &&
      export GOTOOLCHAIN="$(go_toolchain_for .)" GOFLAGS="$GOFLAGS -mod=mod" &&
      (cd cmd/pulumi-resource-kubernetes && VERSION="$KUBERNETES_PLUGIN_VERSION" go run generate.go) &&
      go build -o "$work/pulumi-resource-kubernetes" -ldflags "-s -w \
        -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PLUGIN_VERSION" \
        ./cmd/pulumi-resource-kubernetes
  ) || { rm -rf "$work"; return 1; }
  mv -f "$work/pulumi-resource-kubernetes" "$KUBERNETES_PLUGIN_BIN"
  rm -rf "$work"
}

kubernetes_plugin_installed() {
  local installed="$PULUMI_HOME/plugins/resource-kubernetes-v$KUBERNETES_PLUGIN_VERSION/pulumi-resource-kubernetes"
  [ -x "$installed" ] && cmp -s "$installed" "$KUBERNETES_PLUGIN_BIN"
}

ensure_kubernetes_plugin() {
  if [ -x "$KUBERNETES_PLUGIN_BIN" ]; then
    log "pulumi-kubernetes provider: cached at $KUBERNETES_PLUGIN_BIN"
  else
    heartbeat "building pulumi-kubernetes provider ($KUBERNETES_PROVIDER_MODULE_VERSION) as v$KUBERNETES_PLUGIN_VERSION (cold: 10-15 min, ~1.5 min with a warm Go build cache)" \
      build_kubernetes_provider
  fi
  if kubernetes_plugin_installed; then
    log "kubernetes plugin v$KUBERNETES_PLUGIN_VERSION: installed in $PULUMI_HOME"
  else
    step "installing kubernetes plugin v$KUBERNETES_PLUGIN_VERSION into PULUMI_HOME=$PULUMI_HOME" \
      "$PULUMI_CLI" plugin install resource kubernetes "$KUBERNETES_PLUGIN_VERSION" --file "$KUBERNETES_PLUGIN_BIN" --reinstall
  fi
}
