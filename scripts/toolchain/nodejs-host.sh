# Step: the nodejs language host (pulumi-language-nodejs/, bundled into one file with esbuild) and the
# SDK's dynamic-provider plugin script, installed NEXT TO the pulumi binary: the CLI looks there for
# "bundled" plugins, so with that folder on PATH neither is reported as "using ... from $PATH".

# Prints the folder our host goes into for the selected CLI, or nothing when the CLI ships its own host.
nodejs_host_dir() {
  local cli_dir
  cli_dir="$(dirname "$(readlink -f "$1")")"
  if [ "$cli_dir" = "$(readlink -f "$PULUMI_CLI_BIN_DIR")" ]; then
    echo "$PULUMI_CLI_BIN_DIR"
  elif [ ! -x "$cli_dir/pulumi-language-nodejs" ]; then
    echo "$NODEJS_HOST_BIN_DIR"
  fi
}

install_nodejs_host() {
  local dest="$1" esbuild="$REPO_ROOT/node_modules/.bin/esbuild" sdk="$REPO_ROOT/node_modules/@pulumi/pulumi" tmp
  [ -x "$esbuild" ] && [ -d "$sdk" ] || die "node_modules is missing: run \`make deps\` (npm ci) first"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/mlops-nodejs-host.XXXXXX")"
  "$esbuild" "$TOOLCHAIN_DIR/pulumi-language-nodejs/main.ts" --bundle --platform=node --target=node20 \
    --log-level=warning --banner:js='#!/usr/bin/env node' --outfile="$tmp/pulumi-language-nodejs" || { rm -rf "$tmp"; return 1; }
  install_file "$tmp/pulumi-language-nodejs" "$dest/pulumi-language-nodejs"
  # The SDK's own launcher: resolves @pulumi/pulumi/cmd/dynamic-provider from the project folder.
  install_file "$sdk/pulumi-resource-pulumi-nodejs" "$dest/pulumi-resource-pulumi-nodejs"
  rm -rf "$tmp"
}

ensure_nodejs_host() {
  local dest
  dest="$(nodejs_host_dir "$PULUMI_CLI")"
  if [ -z "$dest" ]; then
    log "nodejs language host: the CLI at $PULUMI_CLI ships its own"
    return
  fi
  step "installing the nodejs language host + dynamic-provider plugin into $dest" install_nodejs_host "$dest"
}
