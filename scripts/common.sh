# The helpers every script shares (sourced, not run): log, die, wait_until, stop_pid. One copy here;
# each script family keeps its own message prefix by setting, before or after sourcing:
#   LOG_TAG       the word in brackets: "[docker] ...", "[postgres] ..." (required)
#   LOG_CLOCK     padded: "[tag   12s] msg"; after: "[tag] 12s msg"; unset: "[tag] msg" (seconds since sourcing)
#   DIE_PREFIX    what starts an error line (default "[tag] error:")
#   LOG_FD        1 to log to stdout (default 2: stderr, keeping stdout for results)
# shellcheck shell=bash

LOG_STARTED="${LOG_STARTED:-$SECONDS}"

log() {
  local tag="${LOG_TAG:?set LOG_TAG before logging}" took=$((SECONDS - LOG_STARTED))
  case "${LOG_CLOCK:-}" in
    padded) printf '[%s %4ss] %s\n' "$tag" "$took" "$*" ;;
    after) printf '[%s] %ss %s\n' "$tag" "$took" "$*" ;;
    *) printf '[%s] %s\n' "$tag" "$*" ;;
  esac >&"${LOG_FD:-2}"
}

die() {
  printf '%s %s\n' "${DIE_PREFIX:-[${LOG_TAG:-error}] error:}" "$*" >&2
  exit 1
}

# wait_until WHAT CMD...: runs CMD every second until it succeeds; fails (status 1) after $WAIT_SECONDS
# (default 60), logging "waiting for WHAT" every $WAIT_PROGRESS_SECONDS (default 5; 0: quiet).
wait_until() {
  local what="$1"
  shift
  local limit="${WAIT_SECONDS:-60}" every="${WAIT_PROGRESS_SECONDS:-5}" started=$SECONDS
  until "$@"; do
    if ((SECONDS - started >= limit)); then return 1; fi
    if ((every > 0 && (SECONDS - started) % every == every - 1)); then log "waiting for $what ($((SECONDS - started))s/${limit}s)"; fi
    sleep 1
  done
}

# term_and_wait PID SECONDS: sends TERM and waits up to SECONDS for PID to exit; fails if it still runs.
term_and_wait() {
  local pid="$1" grace="$2" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  ! kill -0 "$pid" 2>/dev/null
}

# stop_pid PID SECONDS MESSAGE: TERM, then (logging MESSAGE) KILL when PID still runs after SECONDS.
stop_pid() {
  term_and_wait "$1" "$2" && return 0
  log "$3"
  kill -KILL "$1" 2>/dev/null || true
  sleep 1
}
