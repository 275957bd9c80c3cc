#!/usr/bin/env bash
# Usage: scripts/cluster/down.sh [--purge]
# Stops everything up.sh started (containers, kube-proxy, kubelet, containerd, control plane), then removes
# what they leave on the host: pod network namespaces, mounts under the state folders, the CNI bridge,
# iptables/ip6tables rules and chains (CNI-*, KUBE-*), kubepods cgroups, /var/log/containers links.
# Keeps certificates, etcd data and imported images for a fast restart unless --purge (PURGE=1).
# Ends by listing anything of ours still left (exit 1 if so).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$(id -u)" = 0 ] || die "stopping the cluster removes mounts and iptables rules: run it as root"
PURGE="${PURGE:-0}"
if [ "${1:-}" = --purge ]; then PURGE=1; fi

stop_process() {
  local name="$1" pid
  pid="$(running_pid "$name")" || { rm -f "$(pid_file "$name")"; return 0; }
  stop_pid "$pid" 20 "$name (pid $pid) ignored SIGTERM for 20s: SIGKILL"
  rm -f "$(pid_file "$name")"
  log "$name: stopped (pid $pid)"
}

# Our shims are the ones that talk to our containerd socket.
our_shim_pids() {
  local p
  for p in $(pgrep -x containerd-shim-runc-v2 2>/dev/null || true) $(pgrep -f '^containerd-shim' 2>/dev/null || true); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$CONTAINERD_SOCK" && echo "$p"
  done | sort -u
}

stop_containers() {
  running_pid containerd >/dev/null || return 0
  local ids id netns=()
  ids="$(ctr_ containers ls -q 2>/dev/null || true)"
  for id in $ids; do
    # Sandboxes record their network namespace: removed below, once no process holds it.
    netns+=($(ctr_ containers info "$id" 2>/dev/null | sed -n 's/.*"path": "\(\/var\/run\/netns\/cni-[^"]*\)".*/\1/p'))
    ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $ids; do
    ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
  printf '%s\n' "${netns[@]}" | sort -u >"$CLUSTER_STATE/run/netns" 2>/dev/null || true
  [ -n "$ids" ] && log "containers: killed and removed $(echo "$ids" | wc -w)"
}

remove_netns() {
  local ns
  [ -f "$CLUSTER_STATE/run/netns" ] || return 0
  while read -r ns; do
    [ -n "$ns" ] && [ -e "$ns" ] || continue
    umount "$ns" 2>/dev/null || true
    rm -f "$ns"
  done <"$CLUSTER_STATE/run/netns"
  rm -f "$CLUSTER_STATE/run/netns"
}

unmount_ours() {
  local m
  # Deepest first; mountinfo escapes spaces as \040.
  for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($CLUSTER_STATE|$CLUSTER_RUN)(/|$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
}

# iptables_cleanup BIN: deletes rules that jump to our chains or name our bridge / pod range, then the chains.
iptables_cleanup() {
  local bin="$1" table line chain
  command -v "$bin" >/dev/null 2>&1 || return 0
  for table in filter nat mangle raw; do
    "$bin" -t "$table" -S >/dev/null 2>&1 || continue
    { "$bin" -t "$table" -S | grep -E '^-A ' | grep -E -- "-j (CNI|KUBE)-|$CLUSTER_BRIDGE|${CLUSTER_POD_CIDR%.0.0/16}\." |
      grep -vE '^-A (CNI|KUBE)-' || true; } | while read -r line; do
      eval "\"$bin\" -t \"$table\" ${line/#-A/-D}" 2>/dev/null || true
    done
    for chain in $("$bin" -t "$table" -S | sed -n 's/^-N \(\(CNI\|KUBE\)-[^ ]*\)$/\1/p'); do
      "$bin" -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $("$bin" -t "$table" -S | sed -n 's/^-N \(\(CNI\|KUBE\)-[^ ]*\)$/\1/p'); do
      "$bin" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

leftovers() {
  local left=() p name
  for name in "${CLUSTER_PROCESSES[@]}"; do
    p="$(running_pid "$name")" && left+=("process $name (pid $p)")
  done
  for p in $(our_shim_pids); do left+=("containerd shim pid $p"); done
  while read -r p; do [ -n "$p" ] && left+=("mount $p"); done < <(awk '{print $5}' /proc/self/mountinfo | grep -E "^($CLUSTER_STATE|$CLUSTER_RUN)(/|$)" || true)
  ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1 && left+=("bridge $CLUSTER_BRIDGE")
  for p in iptables ip6tables; do
    local n
    n="$(for t in filter nat mangle raw; do "$p" -t "$t" -S 2>/dev/null; done | grep -cE -- '^-N (CNI|KUBE)-|-j (CNI|KUBE)-' || true)"
    [ "$n" != 0 ] && left+=("$n $p rules/chains named CNI-*/KUBE-*")
  done
  if [ "${#left[@]}" = 0 ]; then
    log "nothing of ours left: no process, mount, bridge or iptables rule"
    return 0
  fi
  printf '[cluster] left behind: %s\n' "${left[@]}" >&2
  return 1
}

main() {
  local i started=$SECONDS
  stop_process kube-proxy
  stop_process kubelet
  stop_containers
  stop_process containerd
  for p in $(our_shim_pids); do kill -KILL "$p" 2>/dev/null || true; done
  for ((i = ${#CLUSTER_PROCESSES[@]} - 1; i >= 0; i--)); do stop_process "${CLUSTER_PROCESSES[$i]}"; done
  remove_netns
  unmount_ours
  [ -x "$KUBE_BIN_DIR/kube-proxy" ] && "$KUBE_BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
  iptables_cleanup iptables
  iptables_cleanup ip6tables
  ip link delete "$CLUSTER_BRIDGE" 2>/dev/null || true
  remove_cgroups
  find /var/log/containers -maxdepth 1 -type l -lname "$CLUSTER_STATE/*" -delete 2>/dev/null || true
  rm -f /var/lib/cni/results/mlops-* 2>/dev/null || true
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  if [ "$PURGE" = 1 ]; then
    rm -rf "$CLUSTER_STATE" "$CLUSTER_RUN" "$HOSTPATH_PV_DIR"
    log "purged $CLUSTER_STATE, $CLUSTER_RUN and $HOSTPATH_PV_DIR"
  fi
  log "cluster down in $((SECONDS - started))s"
  leftovers
}

main
