#!/usr/bin/env bash
# Usage: scripts/docker/logs.sh [TOPOLOGY]
# The last LINES_PER_LOG (default 20) log lines of every container of the pipeline on this Docker
# host (all topologies, or only the one whose component name is TOPOLOGY), with its state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_engine

label="io.mlops-pipeline.topology"
filter="label=$label"; [ -n "${1:-}" ] && filter="label=$label=$1"
mapfile -t containers < <(docker ps --all --filter "$filter" --format '{{.Names}}' | sort)
if [ ${#containers[@]} -eq 0 ]; then
  echo "no pipeline containers on this Docker host${1:+ for topology '$1'}: deploy first (make train-docker / make prod-docker)" >&2
  exit 1
fi
for name in "${containers[@]}"; do
  state=$(docker inspect --format '{{.State.Status}}{{if .State.Health}} ({{.State.Health.Status}}){{end}}{{if eq .State.Status "exited"}} exit {{.State.ExitCode}}{{end}}' "$name")
  echo "==> $name: $state <=="
  docker logs --tail "${LINES_PER_LOG:-20}" "$name" 2>&1
done
