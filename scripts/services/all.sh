#!/usr/bin/env bash
# All test services at once: `all.sh start|stop|restart|status`. start brings up PostgreSQL,
# SeaweedFS and MLflow (mlflow.sh starts its stores); stop ends them in reverse order.
set -uo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
case "${1:-}" in
  start) bash "$HERE/mlflow.sh" start ;;
  stop) status=0; for s in mlflow seaweedfs postgres; do bash "$HERE/$s.sh" stop || status=1; done; exit $status ;;
  restart) "$0" stop && "$0" start ;;
  status) status=0; for s in postgres seaweedfs mlflow; do bash "$HERE/$s.sh" status || status=1; done; exit $status ;;
  *) echo "usage: all.sh start|stop|restart|status" >&2; exit 2 ;;
esac
