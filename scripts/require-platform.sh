#!/usr/bin/env bash
# Says whether a platform can run from this machine, and why not: `require-platform.sh docker|kubernetes`.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source scripts/env.sh >/dev/null 2>&1 || true

case "${1:-}" in
  docker)
    # The installed plugin itself first: `pulumi plugin ls` was seen failing for a moment while other
    # plugins were being installed into the same PULUMI_HOME.
    if compgen -G "${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-docker-v*/pulumi-resource-docker" >/dev/null; then exit 0; fi
    if pulumi plugin ls 2>/dev/null | grep -qE '^docker\s'; then exit 0; fi
    cat >&2 <<'MSG'
docker platform: the @pulumi/docker provider plugin is not installed. On a machine with internet
access run:
    pulumi plugin install resource docker 5.2.0
(see the README for building it from source without internet).
MSG
    exit 1 ;;
  kubernetes)
    config=${KUBECONFIG:-$HOME/.kube/config}
    if [ ! -f "${config%%:*}" ]; then
      echo "kubernetes platform: no kubeconfig at ${config%%:*}; point KUBECONFIG at your cluster's config (see README: Kubernetes)." >&2
      exit 1
    fi
    server=$(awk '/server:/ {print $2; exit}' "${config%%:*}")
    if ! curl -sk --max-time 5 -o /dev/null "$server/version"; then
      echo "kubernetes platform: the cluster API at $server does not answer from this machine; check your VPN/kubeconfig context." >&2
      exit 1
    fi
    exit 0 ;;
  *) echo "usage: require-platform.sh docker|kubernetes" >&2; exit 2 ;;
esac
