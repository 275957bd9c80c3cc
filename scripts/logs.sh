#!/usr/bin/env bash
# Logs of a stack's running workloads: `logs.sh <stack>`. Local: the supervised processes' logs
# under .pipeline/logs; docker: the logs of the stack's containers (scripts/docker/logs.sh), found by
# their topology label: one per phase stack, `<stack>-<phase>` (programs/context.ts phaseStackName).
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-local}
platform=$(awk -F': *' '/mlops:platform:/ {print $NF; exit}' "Pulumi.$stack.yaml" 2>/dev/null || true)
case "$platform" in
  local)
    shopt -s nullglob
    logs=(".pipeline/logs/$stack"/*.log)
    if [ ${#logs[@]} -eq 0 ]; then echo "no logs yet in .pipeline/logs/$stack: run \`make pipeline STACK=$stack\` first" >&2; exit 1; fi
    for f in "${logs[@]}"; do echo "==> $f <=="; tail -n "${LINES_PER_LOG:-20}" "$f"; done ;;
  docker) exec bash scripts/docker/logs.sh "$stack-tracking" "$stack-training" "$stack-serving" ;;
  kubernetes) echo "kubernetes: use \`kubectl logs -n <namespace> -l app.kubernetes.io/part-of=mlops-pipeline --prefix\`" >&2; exit 1 ;;
  *) echo "unknown stack '$stack': no Pulumi.$stack.yaml with mlops:platform" >&2; exit 1 ;;
esac
