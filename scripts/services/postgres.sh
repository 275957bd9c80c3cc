#!/usr/bin/env bash
# A PostgreSQL server for tests and local runs, from Debian's packages, on 127.0.0.1 only.
#
#   postgres.sh start|stop|restart|status   manage the server (idempotent)
#   postgres.sh url                         print the SQLAlchemy URL of the `mlflow` database.
#                                           It CONTAINS THE PASSWORD: only pipe it into env vars.
#   postgres.sh psql [psql args...]         run psql as the `mlflow` role against its database
#                                           (MLOPS_POSTGRES_DATABASE=<name> for another one)
#   postgres.sh fresh-database <name>       drop database <name> if it exists and create it empty,
#                                           owned by `mlflow`: a test's private MLflow database
#
# Env: MLOPS_SERVICES_DIR (state folder, default <repo>/.pipeline/services), MLOPS_POSTGRES_PORT
# (default: a free port picked once and kept). The `mlflow` role's password is generated once into
# <state>/postgres/mlflow-password (0600) and never printed. Run as root, the server runs as the
# `postgres` OS user (initdb refuses root); run as another user, it runs as that user.
set -euo pipefail
SERVICE_NAME=postgres
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STATE="$SERVICES_DIR/postgres"
PORT_FILE="$STATE/port"
ROLE_PASSWORD_FILE="$STATE/mlflow-password"
SUPERUSER_PASSWORD_FILE="$STATE/superuser-password"
DATA_POINTER_FILE="$STATE/data-dir"
DATABASE=mlflow
ROLE=mlflow

find_pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    log "PostgreSQL server binaries are missing: installing them (scripts/packages.sh)"
    bash "$(dirname "${BASH_SOURCE[0]}")/../packages.sh" install services >&2 || die "could not install Debian's postgresql package"
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  echo "$bin"
}

# The server user: `postgres` when we are root, else ourselves.
as_server_user() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster lives in <state>/postgres/data unless the server user cannot reach that folder (a
# clone under /root, mode 0700): then under the server user's home, keyed by the state folder.
data_dir() {
  if [[ -s "$DATA_POINTER_FILE" ]]; then cat "$DATA_POINTER_FILE"; return; fi
  local dir="$STATE/data"
  if ((EUID == 0)) && ! runuser -u postgres -- test -x "$STATE"; then
    local key; key="$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
    dir="$(getent passwd postgres | cut -d: -f6)/mlops-services/$key"
    log "the postgres user cannot reach $STATE; keeping the cluster in $dir"
  fi
  echo "$dir" >"$DATA_POINTER_FILE"
  echo "$dir"
}

pg_ctl_cmd() { as_server_user "$PG_BIN/pg_ctl" -D "$DATA" "$@"; }

is_running() { [[ -f "$DATA/postmaster.pid" ]] && pg_ctl_cmd status >/dev/null 2>&1; }

init_cluster() {
  log "initialising a new cluster in $DATA"
  ensure_secret_file "$SUPERUSER_PASSWORD_FILE"
  mkdir -p "$DATA"
  if ((EUID == 0)); then chown postgres: "$DATA"; fi
  chmod 700 "$DATA"
  # initdb reads the superuser password from a file: a private temporary copy the server user
  # owns, removed right after (never on a command line).
  local pwdir; pwdir="$(mktemp -d)"
  install -m 600 "$SUPERUSER_PASSWORD_FILE" "$pwdir/pw"
  if ((EUID == 0)); then chown -R postgres: "$pwdir"; fi
  local status=0
  as_server_user "$PG_BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --pwfile="$pwdir/pw" >"$STATE/initdb.log" 2>&1 || status=$?
  rm -rf "$pwdir"
  ((status == 0)) || die "initdb failed; see $STATE/initdb.log"
  # TCP on loopback only, no Unix socket (its folder would need root); asynchronous commits keep
  # test fills fast without risking corruption (a crash loses at most the last few commits).
  cat >>"$DATA/postgresql.conf" <<'CONF'
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
synchronous_commit = off
max_connections = 200
CONF
}

admin_psql() {
  PGPASSWORD="$(cat "$SUPERUSER_PASSWORD_FILE")" "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

ensure_role_and_database() {
  ensure_secret_file "$ROLE_PASSWORD_FILE"
  # The password goes through psql's stdin, so it is never in a process list.
  {
    printf "SELECT 'CREATE ROLE %s LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') \\\\gexec\n" "$ROLE" "$ROLE"
    printf "ALTER ROLE %s WITH LOGIN PASSWORD '%s';\n" "$ROLE" "$(cat "$ROLE_PASSWORD_FILE")"
    printf "SELECT 'CREATE DATABASE %s OWNER %s' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '%s') \\\\gexec\n" "$DATABASE" "$ROLE" "$DATABASE"
  } | admin_psql >/dev/null || die "could not create the $ROLE role and database (see $DATA/server.log)"
}

start() {
  if [[ -s "$DATA/PG_VERSION" && ! -s "$SUPERUSER_PASSWORD_FILE" ]] && ! is_running; then
    # A cluster outliving its state folder (kept under the server user's home): its passwords are gone.
    log "the cluster in $DATA has no password file in $STATE any more; recreating it"
    rm -rf "$DATA"
  fi
  if [[ ! -s "$DATA/PG_VERSION" ]]; then init_cluster; fi
  if is_running; then
    log "already running on 127.0.0.1:$PORT"
  else
    port_open "$PORT" && die "port $PORT is taken by another process; set MLOPS_POSTGRES_PORT or remove $PORT_FILE"
    log "starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
    pg_ctl_cmd start -w -t 60 -l "$DATA/server.log" -o "-p $PORT" >/dev/null || die "PostgreSQL did not start; see $DATA/server.log"
  fi
  WAIT_SECONDS=60 wait_until "PostgreSQL to accept connections" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" ||
    die "PostgreSQL does not accept connections; see $DATA/server.log"
  ensure_role_and_database
  log "ready: database '$DATABASE' on 127.0.0.1:$PORT ($(elapsed))"
}

# Tests give each pipeline stack its own database so their runs never mix; the `mlflow` database is
# never dropped. Connections still open to the old one (a stopped test's MLflow) are cut (FORCE).
fresh_database() {
  local name="$1"
  [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "fresh-database expects a lower-case SQL name (letters, digits, '_'), got '$name'"
  [[ "$name" != "$DATABASE" ]] || die "fresh-database refuses to drop the shared '$DATABASE' database"
  is_running || die "PostgreSQL is not running: run 'postgres.sh start' first"
  printf 'SET client_min_messages = warning;\nDROP DATABASE IF EXISTS %s WITH (FORCE);\nCREATE DATABASE %s OWNER %s;\n' "$name" "$name" "$ROLE" | admin_psql >/dev/null ||
    die "could not recreate database $name (see $DATA/server.log)"
  log "database '$name' is new and empty"
}

stop() {
  if is_running; then
    log "stopping"
    pg_ctl_cmd stop -m fast -w -t 60 >/dev/null
  fi
  log "stopped"
}

main() {
  local command="${1:-}"
  [[ -n "$command" ]] || die "usage: postgres.sh start|stop|restart|status|url|psql|fresh-database"
  shift || true
  mkdir -p "$STATE"
  chmod 711 "$STATE" # the server user only needs to pass through; secrets inside stay 0600
  PG_BIN="$(find_pg_bin)"
  DATA="$(data_dir)"
  PORT="$(ensure_port "$PORT_FILE" "${MLOPS_POSTGRES_PORT:-}")"
  case "$command" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status)
      if is_running; then echo "postgres: running on 127.0.0.1:$PORT (data $DATA)"; else echo "postgres: stopped"; exit 1; fi ;;
    url)
      [[ -s "$ROLE_PASSWORD_FILE" ]] || die "no password yet: run 'postgres.sh start' first"
      echo "postgresql://$ROLE:$(cat "$ROLE_PASSWORD_FILE")@127.0.0.1:$PORT/$DATABASE" ;;
    psql)
      PGPASSWORD="$(cat "$ROLE_PASSWORD_FILE")" exec "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "${MLOPS_POSTGRES_DATABASE:-$DATABASE}" "$@" ;;
    fresh-database) fresh_database "${1:-}" ;;
    *) die "unknown command '$command': expected start|stop|restart|status|url|psql|fresh-database" ;;
  esac
}

main "$@"
