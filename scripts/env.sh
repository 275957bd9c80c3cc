# The Pulumi environment for every Makefile target that runs Pulumi: `source scripts/env.sh`.
# Safe to source repeatedly; prints nothing unless something is missing. Same rules as driver/pulumiEnv.ts:
# the pinned CLI built by scripts/toolchain.sh in the cache, else a compatible `pulumi` on PATH.
# (No `set -e`/`exit` here: this runs inside the caller's shell.)

_mlops_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_mlops_cli_version="$(sed -n 's/^PULUMI_CLI_VERSION=//p' "$_mlops_repo/scripts/toolchain/versions.env")"
export MLOPS_CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-pipeline}"

_mlops_path_prepend() {
  case ":$PATH:" in
    *":$1:"*) ;;
    *) PATH="$1${PATH:+:$PATH}" ;;
  esac
}

_mlops_path_prepend "$_mlops_repo/node_modules/.bin"
_mlops_cli_dir="$MLOPS_CACHE_DIR/toolchain/pulumi-v$_mlops_cli_version/bin"
if [ -x "$_mlops_cli_dir/pulumi" ]; then
  # Our language host and the dynamic-provider plugin sit next to this pulumi, so the CLI finds them as
  # bundled plugins; having the folder on PATH as well keeps it from warning "using ... from $PATH".
  _mlops_path_prepend "$_mlops_cli_dir"
elif _mlops_ambient="$(command -v pulumi 2>/dev/null)"; then
  if [ ! -x "$(dirname "$(readlink -f "$_mlops_ambient")")/pulumi-language-nodejs" ]; then
    if [ -x "$MLOPS_CACHE_DIR/toolchain/nodejs-host/bin/pulumi-language-nodejs" ]; then
      _mlops_path_prepend "$MLOPS_CACHE_DIR/toolchain/nodejs-host/bin"
    else
      echo "scripts/env.sh: $_mlops_ambient has no nodejs language host next to it: run \`make toolchain\`" >&2
    fi
  fi
else
  echo "scripts/env.sh: no Pulumi CLI (looked in $_mlops_cli_dir and on PATH): run \`make toolchain\`" >&2
fi
# The kubectl of the local cluster (scripts/cluster), for the driver's `kubectl port-forward`, when none is
# installed: appended, so a user's own kubectl stays first.
_mlops_kube_version="$(sed -n 's/^KUBERNETES_VERSION=//p' "$_mlops_repo/scripts/cluster/versions.env" 2>/dev/null)"
_mlops_kube_bin="$MLOPS_CACHE_DIR/cluster/kubernetes-$_mlops_kube_version/bin"
if ! command -v kubectl >/dev/null 2>&1 && [ -x "$_mlops_kube_bin/kubectl" ]; then PATH="$PATH:$_mlops_kube_bin"; fi
export PATH

export PULUMI_HOME="${MLOPS_PULUMI_HOME:-$MLOPS_CACHE_DIR/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true

mkdir -p "$_mlops_repo/.pulumi-state"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_mlops_repo/.pulumi-state}"

# Keep the user's passphrase; otherwise generate one once (random, mode 0600, never printed).
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  _mlops_passphrase="$_mlops_repo/.pulumi-state/passphrase"
  if [ ! -s "$_mlops_passphrase" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_' >"$_mlops_passphrase.tmp.$$" &&
      mv -f "$_mlops_passphrase.tmp.$$" "$_mlops_passphrase")
  fi
  chmod 0600 "$_mlops_passphrase"
  export PULUMI_CONFIG_PASSPHRASE_FILE="$_mlops_passphrase"
fi

unset _mlops_repo _mlops_cli_version _mlops_cli_dir _mlops_ambient _mlops_passphrase _mlops_kube_version _mlops_kube_bin
unset -f _mlops_path_prepend
