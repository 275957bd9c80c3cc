#!/usr/bin/env bash
# Usage: scripts/docker/engine.sh start|stop|status
#   start   use the engine that answers on DOCKER_HOST / the default socket; otherwise install
#           Debian's docker.io if dockerd is missing, start dockerd and wait until it answers.
#   stop    stop dockerd only if `start` started it (pid file), never an engine someone else runs.
#   status  say whether an engine answers and who started it; exit 0 only if it answers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$DOCKER_CACHE_DIR/engine"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
START_TIMEOUT_SECONDS="${DOCKER_START_TIMEOUT_SECONDS:-60}"

started_by_us() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

install_engine() {
  log "dockerd not found: installing Debian's docker.io (scripts/packages.sh)"
  bash "$REPO_ROOT/scripts/packages.sh" install docker
}

start() {
  if engine_answers; then
    log "engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null)); nothing to start"
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer and is not local: start that engine, or unset DOCKER_HOST"
  fi
  command -v dockerd >/dev/null 2>&1 || install_engine
  [ "$(id -u)" = 0 ] || die "starting dockerd needs root: run this as root or start the engine yourself"
  mkdir -p "$STATE_DIR"
  log "starting dockerd (log: $LOG_FILE)"
  # setsid: the daemon must outlive the shell (and test runner) that started it.
  setsid dockerd >"$LOG_FILE" 2>&1 < /dev/null &
  echo $! >"$PID_FILE"
  local waited=0
  until engine_answers; do
    if ! started_by_us; then
      tail -20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "dockerd exited during start; its log is above ($LOG_FILE)"
    fi
    (( waited >= START_TIMEOUT_SECONDS )) && die "dockerd did not answer within ${START_TIMEOUT_SECONDS}s; see $LOG_FILE"
    sleep 1; waited=$((waited + 1))
  done
  log "engine answers after ${waited}s ($(docker version --format '{{.Server.Version}}'), pid $(cat "$PID_FILE"))"
}

stop() {
  if ! started_by_us; then
    rm -f "$PID_FILE"
    log "no dockerd started by this script is running; leaving any other engine alone"
    return 0
  fi
  local pid; pid=$(cat "$PID_FILE")
  log "stopping dockerd (pid $pid)"
  term_and_wait "$pid" 30 || die "dockerd (pid $pid) did not stop within 30s"
  rm -f "$PID_FILE"
  log "stopped"
}

status() {
  if engine_answers; then
    local who="someone else"; started_by_us && who="engine.sh (pid $(cat "$PID_FILE"))"
    echo "engine answers: $(docker version --format '{{.Server.Version}}'), started by $who"
    return 0
  fi
  echo "no engine answers on ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
