# Shared helpers for scripts/toolchain.sh and its steps: logging with timings, cache paths,
# version checks and atomic installs. Sourced, never run.

TOOLCHAIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$TOOLCHAIN_DIR/../.." && pwd)"
# shellcheck source=versions.env
source "$TOOLCHAIN_DIR/versions.env"

export MLOPS_CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-pipeline}"
TOOLCHAIN_CACHE="$MLOPS_CACHE_DIR/toolchain"
PULUMI_CLI_BIN_DIR="$TOOLCHAIN_CACHE/pulumi-v$PULUMI_CLI_VERSION/bin"
# Holds our language host when a pulumi from PATH (without one next to it) is used.
NODEJS_HOST_BIN_DIR="$TOOLCHAIN_CACHE/nodejs-host/bin"
KUBERNETES_BUILD_DIR="$TOOLCHAIN_CACHE/pulumi-kubernetes-$KUBERNETES_PLUGIN_VERSION-${KUBERNETES_PROVIDER_MODULE_VERSION##*-}"
SEAWEEDFS_BIN="$MLOPS_CACHE_DIR/seaweedfs/$SEAWEEDFS_VERSION/weed"
export PULUMI_HOME="${MLOPS_PULUMI_HOME:-$MLOPS_CACHE_DIR/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# One set of build flags for every Go build of ours (toolchain and cluster): Go's build cache keys
# compiled packages by them, so the plugins and the cluster binaries share their common packages
# (client-go, apimachinery, grpc, ...) instead of compiling them twice on a cold machine.
case " ${GOFLAGS:-} " in *" -trimpath "*) ;; *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" ;; esac
export GOFLAGS="$GOFLAGS -buildvcs=false"
export CGO_ENABLED=0

TOOLCHAIN_STARTED=$SECONDS

LOG_TAG=toolchain LOG_CLOCK=padded DIE_PREFIX="[toolchain] ERROR:" LOG_STARTED=$TOOLCHAIN_STARTED
# shellcheck source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

# step "<what>" cmd...: prints what runs, then how long it took, and fails loudly with the step's name.
step() {
  local what="$1" started=$SECONDS
  shift
  log "$what ..."
  "$@" || die "$what failed (see the output above)"
  log "$what: done in $((SECONDS - started))s"
}

# heartbeat "<what>" cmd...: like step, for long builds; prints a line every 30s so a silent build
# is visibly alive. Output of the command goes to a log file that is shown if it fails.
heartbeat() {
  local what="$1" started=$SECONDS next=$((SECONDS + 30)) logfile pid
  shift
  logfile="$(mktemp "${TMPDIR:-/tmp}/mlops-toolchain.XXXXXX.log")"
  log "$what ... (log: $logfile)"
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if kill -0 "$pid" 2>/dev/null && ((SECONDS >= next)); then
      log "$what: still running, $((SECONDS - started))s so far"
      next=$((next + 30))
    fi
  done
  if ! wait "$pid"; then
    tail -n 40 "$logfile" >&2
    die "$what failed after $((SECONDS - started))s (full log: $logfile)"
  fi
  rm -f "$logfile"
  log "$what: done in $((SECONDS - started))s"
}

# version_at_least A B: true when semver A >= B (numeric major.minor.patch, leading v ignored).
version_at_least() {
  local a="${1#v}" b="${2#v}"
  [ "$(printf '%s\n%s\n' "${a%%[-+]*}" "${b%%[-+]*}" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "${b%%[-+]*}" ]
}

# install_file SRC DEST: atomic replace (temp file in DEST's folder, then rename), skipped when equal.
install_file() {
  local src="$1" dest="$2" tmp
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
  tmp="$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")"
  cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$dest"
}

require_go() {
  command -v go >/dev/null 2>&1 || die "building $1 needs Go (>= the go line of its go.mod); install Go or use a prebuilt binary"
}

# go_toolchain_for MODDIR: prints a GOTOOLCHAIN value able to build the module in MODDIR.
go_toolchain_for() {
  local wanted have
  wanted="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$1/go.mod" | head -n1)"
  have="$(go env GOVERSION)"
  have="${have#go}"
  if [ -n "$wanted" ] && ! version_at_least "$have" "$wanted"; then
    echo "$GO_FALLBACK_TOOLCHAIN"
  else
    echo local
  fi
}

# module_dir MODULE VERSION: downloads a module through the Go proxy and prints its (read-only) folder.
module_dir() {
  local dir
  dir="$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "the Go proxy did not serve $1@$2"
  echo "$dir"
}

# copy_module MODULE VERSION DEST: a writable copy of a module (builds that generate files need one).
copy_module() {
  local src
  src="$(module_dir "$1" "$2")" || exit 1
  cp -r "$src/." "$3/" && chmod -R u+w "$3"
}

# hold_lock FILE "<what>" [LOG]: one build of <what> at a time on this machine. Opens FILE on a new fd
# ($HELD_LOCK_FD, closed by release_lock or at exit); while another holder has it, waits and prints
# progress every 30 s, with the last line of LOG when the other build logs there.
hold_lock() {
  local file="$1" what="$2" other_log="${3:-}" waited=$SECONDS
  mkdir -p "$(dirname "$file")"
  exec {HELD_LOCK_FD}>"$file"
  flock -n "$HELD_LOCK_FD" && return 0
  log "another build of $what is running${other_log:+ (its log: $other_log)}: waiting for it"
  until flock -w 30 "$HELD_LOCK_FD"; do
    log "still waiting for $what ($((SECONDS - waited))s)${other_log:+; its last line: $(tail -n 1 "$other_log" 2>/dev/null | cut -c1-140)}"
  done
  log "the other build of $what finished; waited $((SECONDS - waited))s"
}
release_lock() { exec {HELD_LOCK_FD}>&-; }
