#!/bin/sh
# With MLFLOW_AUTH_ADMIN_PASSWORD set, writes the basic-auth config (0600, never in the image or the
# command line) and points MLflow at it; then runs the given command (`mlflow server ...`).
set -eu
if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then
  umask 077
  config="${HOME:-/tmp}/basic_auth.ini"
  printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:////var/lib/mlflow-auth/basic_auth.db\nadmin_username = %s\nadmin_password = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n' \
    "${MLFLOW_AUTH_ADMIN_USER:-admin}" "$MLFLOW_AUTH_ADMIN_PASSWORD" >"$config"
  unset MLFLOW_AUTH_ADMIN_PASSWORD
  export MLFLOW_AUTH_CONFIG_PATH="$config"
  # The auth app's CSRF protection needs one key shared by all server workers; a container-local one
  # suffices (a restart only invalidates open UI forms).
  if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')
    export MLFLOW_FLASK_SERVER_SECRET_KEY
  fi
fi
exec "$@"
