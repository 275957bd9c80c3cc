#!/bin/sh
# With MLFLOW_AUTH_CONFIG set (the basic-auth config the docker platform renders, components/shared/
# mlflowAuth.ts), writes it to a 0600 file (never in the image or the command line) and points MLflow at
# it, makes the users database take its admin password (sync_auth_admin.py); then runs the given command
# (`mlflow server ...`). The CSRF key comes as MLFLOW_FLASK_SERVER_SECRET_KEY.
set -eu
if [ -n "${MLFLOW_AUTH_CONFIG:-}" ]; then
  umask 077
  config="${HOME:-/tmp}/basic_auth.ini"
  printf '%s\n' "$MLFLOW_AUTH_CONFIG" >"$config"
  unset MLFLOW_AUTH_CONFIG
  export MLFLOW_AUTH_CONFIG_PATH="$config"
  # The users database takes the config's admin password (it changes on a rotation): sync_auth_admin.py.
  python /app/sync_auth_admin.py "$config"
fi
exec "$@"
