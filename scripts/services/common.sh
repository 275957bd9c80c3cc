# Shared helpers of scripts/services/*.sh (sourced, not run). Every service keeps its state in
# "$MLOPS_SERVICES_DIR/<service>/" (default <repo>/.pipeline/services, git-ignored): a pid file,
# the port it listens on, its log and its generated secrets (mode 0600, never printed).

SERVICES_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVICES_DIR="${MLOPS_SERVICES_DIR:-$SERVICES_REPO_ROOT/.pipeline/services}"
MLOPS_CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-pipeline}"
SERVICE_START_SECONDS=$SECONDS

LOG_TAG="${SERVICE_NAME:?set SERVICE_NAME before sourcing scripts/services/common.sh}"
# shellcheck source=../common.sh
source "$SERVICES_REPO_ROOT/scripts/common.sh"
elapsed() { echo "$((SECONDS - SERVICE_START_SECONDS))s"; }

# A random alphanumeric secret, safe inside SQL, URLs and INI files without quoting.
# (pipefail off: `head` closing the pipe makes `tr` die of SIGPIPE by design.)
generate_secret() { (set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${1:-32}"); }

# Writes a secret once (mode 0600) and leaves an existing one alone, so restarts keep credentials.
ensure_secret_file() {
  local file="$1" length="${2:-32}"
  if [[ ! -s "$file" ]]; then
    (umask 077 && generate_secret "$length" >"$file.tmp" && mv "$file.tmp" "$file")
  fi
  chmod 600 "$file"
}

# A TCP port nobody listens on right now (the kernel picks it), or $1 when given.
free_port() {
  if [[ -n "${1:-}" ]]; then echo "$1"; return; fi
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Reuses the port recorded in $1, or picks one (from $2 when set) and records it.
ensure_port() {
  local file="$1" wanted="${2:-}"
  if [[ -n "$wanted" ]]; then echo "$wanted" >"$file"; fi
  if [[ ! -s "$file" ]]; then free_port >"$file"; fi
  cat "$file"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when the recorded process runs AND is ours: its command line contains $SERVICE_PROCESS, so a
# pid reused by an unrelated process after a reboot is never signalled.
pid_alive() {
  [[ -s "$1" ]] || return 1
  local pid; pid="$(cat "$1")"
  kill -0 "$pid" 2>/dev/null || return 1
  [[ -z "${SERVICE_PROCESS:-}" ]] && return 0
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$SERVICE_PROCESS"* ]]
}

# Stops the process in the pid file: TERM, then KILL after a grace period.
stop_pid_file() {
  local file="$1" grace="${2:-20}"
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  local pid; pid="$(cat "$file")"
  stop_pid "$pid" "$grace" "pid $pid ignored TERM for ${grace}s; killing it"
  rm -f "$file"
}

# The Python of the project's venv (created by scripts/python-env.sh), or MLOPS_PYTHON_VENV for a scratch one.
venv_dir() { echo "${MLOPS_PYTHON_VENV:-$SERVICES_REPO_ROOT/.venv}"; }
ensure_venv() {
  local venv; venv="$(venv_dir)"
  if [[ ! -x "$venv/bin/python" ]]; then
    if [[ -n "${MLOPS_PYTHON_VENV:-}" ]]; then die "MLOPS_PYTHON_VENV=$venv has no bin/python"; fi
    [[ -f "$SERVICES_REPO_ROOT/scripts/python-env.sh" ]] || die "no $venv and no scripts/python-env.sh to create it"
    log "creating the Python environment (bash scripts/python-env.sh)"
    bash "$SERVICES_REPO_ROOT/scripts/python-env.sh" >&2 || die "scripts/python-env.sh failed"
  fi
  echo "$venv"
}
