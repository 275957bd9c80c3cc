#!/usr/bin/env bash
# The MLflow tracking server for tests and local runs, on 127.0.0.1: PostgreSQL backend store
# (scripts/services/postgres.sh) and proxied artifacts in SeaweedFS's S3 bucket `mlflow`
# (scripts/services/seaweedfs.sh). Only the server holds the S3 credentials: clients upload and
# download artifacts through its /api/2.0/mlflow-artifacts endpoints and need none.
#
#   mlflow.sh start|stop|restart|status   manage the server (idempotent; start starts the two stores)
#   mlflow.sh url                         print the tracking URI (no secrets)
#
# Env: MLOPS_SERVICES_DIR, MLOPS_MLFLOW_PORT (default: a free port picked once and kept),
# MLOPS_MLFLOW_WORKERS (default 2), MLOPS_PYTHON_VENV (default <repo>/.venv from scripts/python-env.sh).
set -euo pipefail
SERVICE_NAME=mlflow
SERVICE_PROCESS="mlflow server"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(dirname "${BASH_SOURCE[0]}")"

STATE="$SERVICES_DIR/mlflow"
PID_FILE="$STATE/server.pid"
PORT_FILE="$STATE/port"
LOG_FILE="$STATE/server.log"
ARTIFACTS_DESTINATION="s3://mlflow/artifacts"

health() { curl -fsS --max-time 2 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; }

# Creates the schema on an empty database and upgrades an older one; a no-op when current.
# (`mlflow db upgrade` alone fails on an empty database: its first migration alters tables
# that only the store's initialisation creates.) The URL comes from the environment.
prepare_database() {
  log "checking the database schema (create or upgrade; safe to rerun)"
  "$VENV/bin/python" - <<'PY' >>"$LOG_FILE" 2>&1 || die "database schema setup failed; see $LOG_FILE"
import os
import sqlalchemy
from mlflow.store.db.utils import _upgrade_db, create_sqlalchemy_engine_with_retry
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

url = os.environ["MLFLOW_BACKEND_STORE_URI"]
engine = create_sqlalchemy_engine_with_retry(url)
if "alembic_version" in sqlalchemy.inspect(engine).get_table_names():
    _upgrade_db(engine)  # what `mlflow db upgrade` runs
SqlAlchemyStore(url, os.environ["ARTIFACTS_DESTINATION"])  # creates the schema when empty, verifies it otherwise
print("database schema is current")
PY
}

start() {
  if pid_alive "$PID_FILE" && health; then
    log "already running at http://127.0.0.1:$PORT"
    return
  fi
  stop_pid_file "$PID_FILE" 10
  port_open "$PORT" && die "port $PORT is taken by another process; set MLOPS_MLFLOW_PORT or remove $PORT_FILE"
  bash "$HERE/postgres.sh" start
  bash "$HERE/seaweedfs.sh" start
  VENV="$(ensure_venv)"
  # Secrets reach the server through its environment only: never its command line or the log.
  MLFLOW_BACKEND_STORE_URI="$(bash "$HERE/postgres.sh" url)"
  export MLFLOW_BACKEND_STORE_URI ARTIFACTS_DESTINATION
  eval "$(bash "$HERE/seaweedfs.sh" env)"
  prepare_database
  log "starting MLflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') on 127.0.0.1:$PORT"
  # setsid: the server and its workers form one process group that `stop` ends together.
  setsid "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$PORT" --workers "${MLOPS_MLFLOW_WORKERS:-2}" \
    --serve-artifacts --artifacts-destination "$ARTIFACTS_DESTINATION" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  WAIT_SECONDS=120 wait_until "MLflow /health" health || {
    tail -n 20 "$LOG_FILE" >&2
    die "MLflow did not answer /health within 120 s; see $LOG_FILE"
  }
  log "ready: http://127.0.0.1:$PORT ($(elapsed))"
}

stop() {
  if pid_alive "$PID_FILE"; then
    log "stopping (pid $(cat "$PID_FILE"))"
    local pid; pid="$(cat "$PID_FILE")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    stop_pid_file "$PID_FILE" 20
    kill -KILL -- "-$pid" 2>/dev/null || true # workers left behind by a killed parent
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

main() {
  local command="${1:-}"
  [[ -n "$command" ]] || die "usage: mlflow.sh start|stop|restart|status|url"
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  PORT="$(ensure_port "$PORT_FILE" "${MLOPS_MLFLOW_PORT:-}")"
  case "$command" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status)
      if pid_alive "$PID_FILE" && health; then echo "mlflow: running at http://127.0.0.1:$PORT"; else echo "mlflow: stopped"; exit 1; fi ;;
    url) echo "http://127.0.0.1:$PORT" ;;
    *) die "unknown command '$command': expected start|stop|restart|status|url" ;;
  esac
}

main "$@"
