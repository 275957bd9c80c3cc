#!/usr/bin/env bash
# Usage: scripts/cluster/status.sh
# Each host process of the cluster (running with its pid, or stopped), the node's readiness and version,
# and the add-ons' pods. Exit 0 only when every process runs and the node is Ready.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ok=0
for name in "${CLUSTER_PROCESSES[@]}"; do
  if pid="$(running_pid "$name")"; then
    printf '  %-24s running (pid %s)\n' "$name" "$pid"
  else
    printf '  %-24s stopped\n' "$name"
    ok=1
  fi
done
if [ ! -f "$CLUSTER_KUBECONFIG" ] || ! running_pid kube-apiserver >/dev/null; then
  echo "  node: unknown (the API server is not running; start it with 'make cluster-up')"
  exit 1
fi
echo "  kubeconfig: $CLUSTER_KUBECONFIG (context $CLUSTER_CONTEXT)"
echo "  ingress: http://127.0.0.1:$CLUSTER_INGRESS_PORT (IngressClass traefik)"
kubectl_ get nodes -o wide 2>&1 | sed 's/^/  /'
ready="$(kubectl_ get node "$CLUSTER_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)"
[ "$ready" = True ] || ok=1
kubectl_ get pods -A -o wide 2>&1 | sed 's/^/  /'
exit "$ok"
