#!/usr/bin/env bash
# Usage: scripts/cluster/up.sh [check]
# Starts a single-node Kubernetes cluster from the binaries `build.sh` cached: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd (Debian), kubelet and kube-proxy as supervised host
# processes (pid files and logs in $CLUSTER_STATE), a bridge CNI, then CoreDNS, Traefik (IngressClass
# "traefik" on 127.0.0.1:$CLUSTER_INGRESS_PORT), a default StorageClass and metrics-server. Idempotent:
# what already runs is kept. Writes the kubeconfig $CLUSTER_STATE/kubeconfig with context $CLUSTER_CONTEXT.
# `check` runs only the preflight (root, cgroups, kernel modules, binaries, packages, free ports) and says
# what is missing, so the test tier can skip (or, in CI, fail) with that reason before starting anything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PKI="$CLUSTER_STATE/pki"
CONF="$CLUSTER_STATE/conf"
UP_TIMEOUT_SECONDS="${MLOPS_CLUSTER_UP_TIMEOUT_SECONDS:-180}"

node_ip() {
  if [ -n "${MLOPS_CLUSTER_NODE_IP:-}" ]; then echo "$MLOPS_CLUSTER_NODE_IP"; return; fi
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1
}

# ---- preflight: name what is missing instead of failing somewhere deep in a daemon's log ----
preflight() {
  [ "$(id -u)" = 0 ] ||
    die "the cluster runs containers, mounts volumes and writes iptables rules: run it as root (sudo make cluster-up)"
  local c missing=()
  for c in cpu cpuacct memory pids cpuset devices freezer; do
    [ -d "/sys/fs/cgroup/$c" ] || grep -qw "$c" /sys/fs/cgroup/cgroup.controllers 2>/dev/null || missing+=("$c")
  done
  [ "${#missing[@]}" = 0 ] ||
    die "cgroup controllers missing: ${missing[*]} (kubelet needs them; on cgroup v1 mount them under /sys/fs/cgroup)"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    die "the overlay filesystem is missing (containerd's snapshotter needs it): modprobe overlay"
  [ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null ||
    die "br_netfilter is missing (Services between pods on the bridge need it): modprobe br_netfilter"
  local b
  for b in "${KUBE_BINARIES[@]}"; do
    [ -x "$KUBE_BIN_DIR/$b" ] || die "$b $KUBERNETES_VERSION is not built ($KUBE_BIN_DIR/$b): run 'make cluster-build'"
  done
  for b in "$ETCD_BIN" "$COREDNS_BIN" "$METRICS_SERVER_BIN" "$TRAEFIK_BIN" "$PAUSE_BIN"; do
    [ -x "$b" ] || die "$b is not built: run 'make cluster-build'"
  done
  ensure_packages
  NODE_IP="$(node_ip)"
  [ -n "$NODE_IP" ] || die "no IPv4 address with a default route found: set MLOPS_CLUSTER_NODE_IP"
  check_ports
}

# port:owner pairs; a port is only a problem if our process for it is not the one listening.
check_ports() {
  local entry port owner holder
  for entry in 2379:etcd 2380:etcd 2381:etcd "$CLUSTER_API_PORT:kube-apiserver" 10257:kube-controller-manager \
    10259:kube-scheduler 10248:kubelet 10250:kubelet 10249:kube-proxy 10256:kube-proxy \
    "$CLUSTER_INGRESS_PORT:traefik" "$CLUSTER_INGRESS_ADMIN_PORT:traefik"; do
    port="${entry%%:*}" owner="${entry#*:}"
    running_pid "$owner" >/dev/null 2>&1 && continue
    [ "$owner" = traefik ] && running_pid kubelet >/dev/null 2>&1 && continue
    holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\1 pid \2/p' | head -n1)"
    if [ -n "$holder" ] || [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
      die "port $port (needed by $owner) is taken${holder:+ by $holder}: stop it, or change the port (MLOPS_CLUSTER_API_PORT / MLOPS_CLUSTER_INGRESS_PORT)"
    fi
  done
}

# ---- certificates and kubeconfigs, the way kubeadm makes them ----
write_kubeadm_config() {
  mkdir -p "$CONF"
  cat >"$CONF/kubeadm.yaml" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: $NODE_IP, bindPort: $CLUSTER_API_PORT}
nodeRegistration: {name: $CLUSTER_NODE_NAME}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: $CLUSTER_CONTEXT
kubernetesVersion: $KUBERNETES_VERSION
certificatesDir: $PKI
networking: {podSubnet: $CLUSTER_POD_CIDR, serviceSubnet: $CLUSTER_SERVICE_CIDR, dnsDomain: cluster.local}
apiServer: {certSANs: [127.0.0.1, localhost, $NODE_IP]}
YAML
}

ensure_pki() {
  if [ -f "$CONF/node-ip" ] && [ "$(cat "$CONF/node-ip")" != "$NODE_IP" ]; then
    die "the node address changed ($(cat "$CONF/node-ip") -> $NODE_IP) since the certificates were made: run 'make cluster-down PURGE=1' first"
  fi
  [ -f "$CONF/kubelet.conf" ] && [ -f "$CONF/kube-proxy.conf" ] && return 0
  write_kubeadm_config
  local kubeadm="$KUBE_BIN_DIR/kubeadm"
  step "certificates (kubeadm init phase certs all)" "$kubeadm" init phase certs all --config "$CONF/kubeadm.yaml"
  step "kubeconfigs (kubeadm init phase kubeconfig all)" \
    "$kubeadm" init phase kubeconfig all --config "$CONF/kubeadm.yaml" --kubeconfig-dir "$CONF"
  # kube-proxy authenticates as system:kube-proxy, bound to system:node-proxier by default.
  "$kubeadm" kubeconfig user --config "$CONF/kubeadm.yaml" --client-name system:kube-proxy >"$CONF/kube-proxy.conf.tmp" &&
    mv "$CONF/kube-proxy.conf.tmp" "$CONF/kube-proxy.conf" || die "kubeadm kubeconfig user (kube-proxy) failed"
  chmod 0600 "$CONF"/*.conf
  echo "$NODE_IP" >"$CONF/node-ip"
}

# ---- supervised processes ----
start_process() {
  local name="$1" pid
  shift
  if pid="$(running_pid "$name")"; then
    log "$name: already running (pid $pid)"
    return 0
  fi
  mkdir -p "$CLUSTER_STATE/run" "$CLUSTER_STATE/logs"
  # setsid: the daemons outlive the shell (and test runner) that started them.
  setsid "$@" >>"$(log_file "$name")" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
  log "$name: started (pid $!, log $(log_file "$name"))"
}

# daemon_answers NAME CMD...: CMD succeeds (quietly); fails the script with the daemon's log when it died.
daemon_answers() {
  local name="$1"
  shift
  "$@" >/dev/null 2>&1 && return 0
  running_pid "$name" >/dev/null && return 1
  tail -n 30 "$(log_file "$name")" >&2 || true
  die "$name exited while starting; its log is above ($(log_file "$name"))"
}

# wait_for_daemon NAME WHAT CMD...: polls CMD until it succeeds; fails with the daemon's log if it died or timed out.
wait_for_daemon() {
  local name="$1" what="$2" started=$SECONDS
  shift 2
  if ! WAIT_SECONDS=$UP_TIMEOUT_SECONDS WAIT_PROGRESS_SECONDS=0 wait_until "$name: $what" daemon_answers "$name" "$@"; then
    tail -n 30 "$(log_file "$name")" >&2 || true
    die "$name: $what not reached within ${UP_TIMEOUT_SECONDS}s; its log is above ($(log_file "$name"))"
  fi
  log "$name: $what after $((SECONDS - started))s"
}

# write_if_changed FILE < content: kube-proxy exits when its config file is rewritten, even unchanged,
# so a second `up` must leave identical files alone.
write_if_changed() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

healthy() { [ "$(curl -sk --max-time 2 "$1")" = ok ]; }

start_etcd() {
  start_process etcd "$ETCD_BIN" --name "$CLUSTER_NODE_NAME" --data-dir "$CLUSTER_STATE/etcd" \
    --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$CLUSTER_NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --cert-file "$PKI/etcd/server.crt" --key-file "$PKI/etcd/server.key" \
    --trusted-ca-file "$PKI/etcd/ca.crt" --client-cert-auth --snapshot-count 10000
  wait_for_daemon etcd healthy sh -c 'curl -s --max-time 2 http://127.0.0.1:2381/health | grep -q "\"health\":\"true\""'
}

start_apiserver() {
  start_process kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
    --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$CLUSTER_API_PORT" \
    --allow-privileged=true --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --etcd-servers=https://127.0.0.1:2379 --etcd-cafile="$PKI/etcd/ca.crt" \
    --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
    --requestheader-username-headers=X-Remote-User --enable-aggregator-routing=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" --service-node-port-range=30000-32767
  wait_for_daemon kube-apiserver ready healthy "https://127.0.0.1:$CLUSTER_API_PORT/readyz"
}

start_controller_manager() {
  # --enable-hostpath-provisioner: the in-tree kubernetes.io/host-path provisioner backs the default
  # StorageClass, so claims (StatefulSet volumeClaimTemplates) bind on this one node.
  start_process kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
    --kubeconfig="$CONF/controller-manager.conf" --authentication-kubeconfig="$CONF/controller-manager.conf" \
    --authorization-kubeconfig="$CONF/controller-manager.conf" --bind-address=127.0.0.1 \
    --client-ca-file="$PKI/ca.crt" --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --root-ca-file="$PKI/ca.crt" \
    --service-account-private-key-file="$PKI/sa.key" --use-service-account-credentials=true \
    --controllers='*,bootstrapsigner,tokencleaner' --leader-elect=false \
    --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_POD_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" --enable-hostpath-provisioner=true
  wait_for_daemon kube-controller-manager healthy healthy https://127.0.0.1:10257/healthz
}

start_scheduler() {
  start_process kube-scheduler "$KUBE_BIN_DIR/kube-scheduler" \
    --kubeconfig="$CONF/scheduler.conf" --authentication-kubeconfig="$CONF/scheduler.conf" \
    --authorization-kubeconfig="$CONF/scheduler.conf" --bind-address=127.0.0.1 --leader-elect=false
  wait_for_daemon kube-scheduler healthy healthy https://127.0.0.1:10259/healthz
}

write_containerd_config() {
  mkdir -p "$CLUSTER_STATE/containerd" "$CLUSTER_STATE/cni/net.d" "$CLUSTER_RUN"
  # Version 2 is containerd 1.6's format (Debian bookworm). restrict_oom_score_adj: root here may lack
  # CAP_SYS_RESOURCE, and the pause container's oom_score_adj -998 would fail `runc create`.
  write_if_changed "$CLUSTER_STATE/containerd/config.toml" <<TOML
version = 2
root = "$CLUSTER_STATE/containerd/root"
state = "$CLUSTER_RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CLUSTER_RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMAGE_PAUSE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # Out of /run/containerd, which another containerd (Docker's) may use.
        Root = "$CLUSTER_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_STATE/cni/net.d"
TOML
  # bridge -> portmap (hostPort) -> firewall: Docker's engine sets the FORWARD policy to DROP, and the
  # firewall plugin admits our pods' traffic in its own chain.
  write_if_changed "$CLUSTER_STATE/cni/net.d/10-mlops.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "mlops",
  "plugins": [
    {"type": "bridge", "bridge": "$CLUSTER_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$CLUSTER_NODE_POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$CLUSTER_STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": "iptables"}
  ]
}
JSON
}

start_containerd() {
  write_containerd_config
  start_process containerd containerd --config "$CLUSTER_STATE/containerd/config.toml"
  wait_for_daemon containerd answering ctr --address "$CONTAINERD_SOCK" version
  bash "$CLUSTER_DIR/images.sh" import
}

start_kubelet() {
  mkdir -p "$CLUSTER_STATE/kubelet" "$CLUSTER_STATE/pod-logs"
  write_if_changed "$CONF/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# No systemd here, and this machine is on cgroup v1 (kubelet 1.34 still runs on it when told so).
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $CLUSTER_STATE/pod-logs
healthzBindAddress: 127.0.0.1
healthzPort: 10248
rotateCertificates: false
# The machine is shared: evict only when really short, and never garbage-collect images (they cannot
# be pulled again). Absolute disk thresholds: a percentage of a large shared disk is gigabytes (2% of
# 252 GB is 5 GB), and the node went into DiskPressure and evicted MLflow and PostgreSQL with 5 GB free
# while another job filled the disk (MLOPS_CLUSTER_EVICTION_DISK, default 1Gi).
evictionHard: {memory.available: 100Mi, nodefs.available: ${MLOPS_CLUSTER_EVICTION_DISK:-1Gi}, imagefs.available: ${MLOPS_CLUSTER_EVICTION_DISK:-1Gi}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
  start_process kubelet "$KUBE_BIN_DIR/kubelet" --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.conf" \
    --root-dir="$CLUSTER_STATE/kubelet" --node-ip="$NODE_IP" --hostname-override="$CLUSTER_NODE_NAME"
  wait_for_daemon kubelet healthy healthy http://127.0.0.1:10248/healthz
}

start_kube_proxy() {
  # oomScoreAdj 0 and conntrack maxPerCore 0: root here may lack CAP_SYS_RESOURCE / write access to
  # the conntrack sysctls, and kube-proxy exits when it cannot set them.
  write_if_changed "$CONF/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $CONF/kube-proxy.conf}
hostnameOverride: $CLUSTER_NODE_NAME
mode: iptables
clusterCIDR: $CLUSTER_POD_CIDR
oomScoreAdj: 0
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
  start_process kube-proxy "$KUBE_BIN_DIR/kube-proxy" --config="$CONF/kube-proxy.yaml"
  wait_for_daemon kube-proxy healthy sh -c "curl -s --max-time 2 http://127.0.0.1:10256/healthz | grep -q lastUpdated"
}

# The in-tree host-path provisioner makes each claim's folder 0750 root, and hostPath volumes ignore
# fsGroup: a non-root pod (PostgreSQL as 999, the object store as 1000) could not write its claim. Open
# every new claim folder to all, as local-path provisioners do (mode 0777).
start_volume_permissions() {
  mkdir -p "$HOSTPATH_PV_DIR"
  start_process volume-permissions bash -c "while :; do
    find '$HOSTPATH_PV_DIR' -mindepth 1 -maxdepth 1 -type d ! -perm 0777 -exec chmod 0777 {} + 2>/dev/null
    sleep 1
  done"
}

write_kubeconfig() {
  local tmp="$CLUSTER_KUBECONFIG.tmp"
  cp "$CONF/admin.conf" "$tmp"
  chmod 0600 "$tmp"
  local k=("$KUBE_BIN_DIR/kubectl" --kubeconfig "$tmp")
  "${k[@]}" config rename-context "$("${k[@]}" config current-context)" "$CLUSTER_CONTEXT" >/dev/null
  # Our stacks and tests talk to the API server through loopback.
  "${k[@]}" config set-cluster "$CLUSTER_CONTEXT" --server "https://127.0.0.1:$CLUSTER_API_PORT" >/dev/null
  mv -f "$tmp" "$CLUSTER_KUBECONFIG"
}

apply_addons() {
  # admin.conf is forbidden until the group binding exists: create it with super-admin.conf.
  "$KUBE_BIN_DIR/kubectl" --kubeconfig "$CONF/super-admin.conf" apply -f "$CLUSTER_DIR/addons/00-rbac.yaml" >/dev/null ||
    die "could not create the admin RBAC bindings"
  write_kubeconfig
  local f vars='${IMAGE_COREDNS} ${IMAGE_METRICS_SERVER} ${IMAGE_TRAEFIK} ${CLUSTER_DNS_IP} ${CLUSTER_INGRESS_PORT} ${CLUSTER_INGRESS_ADMIN_PORT}'
  export IMAGE_COREDNS IMAGE_METRICS_SERVER IMAGE_TRAEFIK CLUSTER_DNS_IP CLUSTER_INGRESS_PORT CLUSTER_INGRESS_ADMIN_PORT
  for f in "$CLUSTER_DIR"/addons/[1-9]*.yaml; do
    envsubst "$vars" <"$f" | kubectl_ apply -f - >/dev/null || die "applying $(basename "$f") failed"
  done
  wait_for_daemon kubelet "node $CLUSTER_NODE_NAME Ready" \
    kubectl_ wait --for=condition=Ready "node/$CLUSTER_NODE_NAME" --timeout=5s
  wait_for_daemon kubelet "CoreDNS, Traefik and metrics-server available" sh -c "
    $(printf '%q ' "$KUBE_BIN_DIR/kubectl" --kubeconfig "$CLUSTER_KUBECONFIG") -n kube-system rollout status deploy/coredns deploy/metrics-server --timeout=5s &&
    $(printf '%q ' "$KUBE_BIN_DIR/kubectl" --kubeconfig "$CLUSTER_KUBECONFIG") -n ingress-traefik rollout status deploy/traefik --timeout=5s"
}

main() {
  local started=$SECONDS
  preflight
  if [ "${1:-}" = check ]; then log "preflight passed: the cluster can start here"; return 0; fi
  eval "$(bash "$CLUSTER_DIR/images.sh" names)"
  mkdir -p "$CLUSTER_STATE" && chmod 0700 "$CLUSTER_STATE"
  ensure_pki
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 >/dev/null ||
    die "could not enable IP forwarding / bridge netfilter (sysctl)"
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_containerd
  start_kubelet
  start_kube_proxy
  start_volume_permissions
  apply_addons
  log "cluster up in $((SECONDS - started))s: KUBECONFIG=$CLUSTER_KUBECONFIG (context $CLUSTER_CONTEXT), Ingress on http://127.0.0.1:$CLUSTER_INGRESS_PORT"
}

# Sourcing (for debugging one phase) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
