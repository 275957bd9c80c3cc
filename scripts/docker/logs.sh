#!/usr/bin/env bash
# Usage: scripts/docker/logs.sh [TOPOLOGY...]
# The last LINES_PER_LOG (default 20) log lines of every container of the pipeline on this Docker
# host (all topologies, or only those whose component name is one of the TOPOLOGY arguments), with its state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_engine

label="io.mlops-pipeline.topology"
# Docker ANDs repeated label filters: one listing per topology, by its exact label value.
listing() { docker ps --all --filter "label=$label${1:+=$1}" --format '{{.Names}}'; }
if [ $# -eq 0 ]; then
  mapfile -t containers < <(listing "" | sort)
else
  mapfile -t containers < <(for topology in "$@"; do listing "$topology"; done | sort -u)
fi
if [ ${#containers[@]} -eq 0 ]; then
  echo "no pipeline containers on this Docker host${1:+ for topology $*}: deploy first (make train-docker / make prod-docker)" >&2
  exit 1
fi
for name in "${containers[@]}"; do
  state=$(docker inspect --format '{{.State.Status}}{{if .State.Health}} ({{.State.Health.Status}}){{end}}{{if eq .State.Status "exited"}} exit {{.State.ExitCode}}{{end}}' "$name")
  echo "==> $name: $state <=="
  docker logs --tail "${LINES_PER_LOG:-20}" "$name" 2>&1
done
