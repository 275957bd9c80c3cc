#!/usr/bin/env bash
# SeaweedFS (Apache-2.0) serving S3 on 127.0.0.1, for tests and local runs: `weed server` with a
# master, a volume server, a filer and the S3 gateway in one process. Requests need credentials:
# one identity, its access key and secret generated once into <state>/seaweedfs/s3.json (0600).
#
#   seaweedfs.sh start|stop|restart|status   manage the server (idempotent); start also creates
#                                            the bucket `mlflow` (MLOPS_S3_BUCKETS to change)
#   seaweedfs.sh env                         print `export` lines for S3 clients: endpoint, region,
#                                            and the KEYS: only for `eval "$(seaweedfs.sh env)"`
#   seaweedfs.sh endpoint                    print the S3 endpoint URL (no secrets)
#
# The `weed` binary: MLOPS_WEED_BIN, else `bash scripts/toolchain.sh seaweedfs` (pinned version,
# built into the cache once). Env: MLOPS_SERVICES_DIR, MLOPS_PYTHON_VENV (boto3 creates the bucket).
set -euo pipefail
SERVICE_NAME=seaweedfs
SERVICE_PROCESS="weed server"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STATE="$SERVICES_DIR/seaweedfs"
PID_FILE="$STATE/weed.pid"
PORTS_FILE="$STATE/ports"
CONFIG_FILE="$STATE/s3.json"
LOG_FILE="$STATE/weed.log"
DATA="$STATE/data"
BUCKETS="${MLOPS_S3_BUCKETS:-mlflow}"

find_weed() {
  if [[ -n "${MLOPS_WEED_BIN:-}" ]]; then
    [[ -x "$MLOPS_WEED_BIN" ]] || die "MLOPS_WEED_BIN=$MLOPS_WEED_BIN is not an executable"
    echo "$MLOPS_WEED_BIN"; return
  fi
  local toolchain="$SERVICES_REPO_ROOT/scripts/toolchain.sh"
  [[ -f "$toolchain" ]] || die "no scripts/toolchain.sh to build SeaweedFS; set MLOPS_WEED_BIN"
  # Prints the cached binary's path at once, or builds it first (a few minutes, once per machine).
  log "finding SeaweedFS (bash scripts/toolchain.sh seaweedfs)"
  local built; built="$(bash "$toolchain" seaweedfs | tail -n 1)" || die "scripts/toolchain.sh seaweedfs failed"
  [[ -x "$built" ]] || die "scripts/toolchain.sh seaweedfs printed '$built', not an executable"
  echo "$built"
}

# master, volume, filer and s3 each need an HTTP and a gRPC port; picked once, kept for restarts.
ensure_ports() {
  if [[ ! -s "$PORTS_FILE" ]]; then
    python3 - >"$PORTS_FILE" <<'PY'
import socket
names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
sockets = [socket.socket() for _ in names]
for s in sockets:
    s.bind(("127.0.0.1", 0))
for name, s in zip(names, sockets):
    print(f"{name}={s.getsockname()[1]}")
for s in sockets:
    s.close()
PY
  fi
  source "$PORTS_FILE"
}

ensure_identity() {
  [[ -s "$CONFIG_FILE" ]] && return
  local access secret
  access="$(generate_secret 20)"
  secret="$(generate_secret 40)"
  (umask 077 && cat >"$CONFIG_FILE.tmp" <<JSON && mv "$CONFIG_FILE.tmp" "$CONFIG_FILE")
{
  "identities": [
    {
      "name": "mlops",
      "credentials": [{ "accessKey": "$access", "secretKey": "$secret" }],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
JSON
}

print_env() {
  python3 - "$CONFIG_FILE" "$s3" <<'PY'
import json, sys
credentials = json.load(open(sys.argv[1]))["identities"][0]["credentials"][0]
print(f"export MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:{sys.argv[2]}")
print(f"export AWS_ENDPOINT_URL_S3=http://127.0.0.1:{sys.argv[2]}")
print(f"export AWS_ACCESS_KEY_ID={credentials['accessKey']}")
print(f"export AWS_SECRET_ACCESS_KEY={credentials['secretKey']}")
print("export AWS_DEFAULT_REGION=us-east-1")
PY
}

s3_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$s3/"; }

# Creates the buckets if missing and proves writes work (a fresh volume server needs a moment to
# register with the master), retrying for up to 60 s.
ensure_buckets() {
  local venv; venv="$(ensure_venv)"
  eval "$(print_env)"
  BUCKETS="$BUCKETS" "$venv/bin/python" - <<'PY' >&2 || die "could not create the buckets; see $LOG_FILE"
import os, time
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"], config=Config(retries={"max_attempts": 1}))
deadline = time.monotonic() + 60
for bucket in os.environ["BUCKETS"].split(","):
    while True:
        try:
            try:
                s3.head_bucket(Bucket=bucket)
            except ClientError as err:
                if err.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
                    raise
                s3.create_bucket(Bucket=bucket)
                print(f"[seaweedfs] created bucket {bucket}")
            s3.put_object(Bucket=bucket, Key=".mlops-write-check", Body=b"ok")
            s3.delete_object(Bucket=bucket, Key=".mlops-write-check")
            break
        except (BotoCoreError, ClientError) as err:
            if time.monotonic() > deadline:
                raise SystemExit(f"[seaweedfs] bucket {bucket} still not writable after 60 s: {err}")
            time.sleep(1)
PY
}

start() {
  if pid_alive "$PID_FILE" && s3_answers; then
    log "already running, S3 at http://127.0.0.1:$s3"
  else
    stop_pid_file "$PID_FILE" 10
    local weed; weed="$(find_weed)"
    port_open "$s3" && die "port $s3 is taken by another process; remove $PORTS_FILE to pick new ports"
    mkdir -p "$DATA"
    log "starting SeaweedFS $("$weed" version 2>/dev/null | awk '{print $3}'), S3 at http://127.0.0.1:$s3"
    # Small volumes (64 MB) so a test machine's disk is not reserved up front; no Iceberg/Lance ports.
    setsid "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$DATA" \
      -master.port="$master" -master.port.grpc="$master_grpc" -master.volumeSizeLimitMB=64 \
      -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.max=0 -volume.preStopSeconds=1 \
      -filer -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
      -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$CONFIG_FILE" \
      >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    WAIT_SECONDS=60 wait_until "the S3 gateway" s3_answers || {
      tail -n 20 "$LOG_FILE" >&2
      die "S3 gateway did not answer within 60 s; see $LOG_FILE"
    }
  fi
  ensure_buckets
  log "ready: S3 at http://127.0.0.1:$s3, bucket(s) $BUCKETS ($(elapsed))"
}

stop() {
  if pid_alive "$PID_FILE"; then log "stopping (pid $(cat "$PID_FILE"); the filer takes ~20 s to flush its metadata log)"; fi
  stop_pid_file "$PID_FILE" 40
  log "stopped"
}

main() {
  local command="${1:-}"
  [[ -n "$command" ]] || die "usage: seaweedfs.sh start|stop|restart|status|env|endpoint"
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  ensure_ports
  ensure_identity
  case "$command" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status)
      if pid_alive "$PID_FILE" && s3_answers; then echo "seaweedfs: running, S3 at http://127.0.0.1:$s3"; else echo "seaweedfs: stopped"; exit 1; fi ;;
    env) print_env ;;
    endpoint) echo "http://127.0.0.1:$s3" ;;
    *) die "unknown command '$command': expected start|stop|restart|status|env|endpoint" ;;
  esac
}

main "$@"
