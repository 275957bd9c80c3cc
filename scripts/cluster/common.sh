# Shared helpers of scripts/cluster/*.sh: the toolchain's logging, timing and cache helpers plus the
# cluster's cache paths and state folder. Sourced, never run.

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../toolchain/common.sh
source "$CLUSTER_DIR/../toolchain/common.sh"
# shellcheck source=versions.env
source "$CLUSTER_DIR/versions.env"

CLUSTER_CACHE="$MLOPS_CACHE_DIR/cluster"
KUBE_BIN_DIR="$CLUSTER_CACHE/kubernetes-$KUBERNETES_VERSION/bin"
ETCD_BIN="$CLUSTER_CACHE/etcd-$ETCD_VERSION/etcd"
COREDNS_BIN="$CLUSTER_CACHE/coredns-$COREDNS_VERSION/coredns"
METRICS_SERVER_BIN="$CLUSTER_CACHE/metrics-server-$METRICS_SERVER_VERSION/metrics-server"
TRAEFIK_BIN="$CLUSTER_CACHE/traefik-$TRAEFIK_VERSION/traefik"
PAUSE_BIN="$CLUSTER_CACHE/pause-$KUBERNETES_VERSION/pause"
KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl)

# log and die of scripts/common.sh (sourced by the toolchain's common.sh), with the cluster's prefix.
LOG_TAG=cluster DIE_PREFIX="[cluster] ERROR:"

# Cluster layout. The state folder holds certificates, data, pid files and logs; it needs root anyway.
CLUSTER_STATE="${MLOPS_CLUSTER_STATE_DIR:-/var/lib/mlops-cluster}"
CLUSTER_RUN="${MLOPS_CLUSTER_RUN_DIR:-/run/mlops-cluster}"
CLUSTER_CONTEXT="${MLOPS_CLUSTER_CONTEXT:-mlops-local}"
CLUSTER_KUBECONFIG="$CLUSTER_STATE/kubeconfig"
CLUSTER_NODE_NAME="${MLOPS_CLUSTER_NODE_NAME:-mlops-node}"
CLUSTER_API_PORT="${MLOPS_CLUSTER_API_PORT:-6443}"
CLUSTER_INGRESS_PORT="${MLOPS_CLUSTER_INGRESS_PORT:-18480}"
CLUSTER_INGRESS_ADMIN_PORT="${MLOPS_CLUSTER_INGRESS_ADMIN_PORT:-$((CLUSTER_INGRESS_PORT + 1))}"
CLUSTER_POD_CIDR=10.244.0.0/16
# The controller-manager gives the first (and only) node the first /24 of the pod range.
CLUSTER_NODE_POD_CIDR=10.244.0.0/24
CLUSTER_SERVICE_CIDR=10.96.0.0/12
CLUSTER_DNS_IP=10.96.0.10
CLUSTER_BRIDGE=mlops0
CONTAINERD_SOCK="$CLUSTER_RUN/containerd.sock"
# Ours only: kubelet's own kubernetes.io/host-path provisioner writes claims here (a fixed path in Kubernetes).
HOSTPATH_PV_DIR=/tmp/hostpath_pv
# Host processes, in start order (down stops them in reverse).
CLUSTER_PROCESSES=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy volume-permissions)
# ensure_packages: the Debian packages the node needs (group `cluster` of scripts/packages.list).
# The image build needs busybox-static and gcc as much as the node needs containerd: every cluster step calls it.
ensure_packages() { bash "$CLUSTER_DIR/../packages.sh" install cluster || die "the cluster's Debian packages could not be installed"; }

# Supervised processes: $CLUSTER_STATE/run/<name>.pid and $CLUSTER_STATE/logs/<name>.log.
pid_file() { echo "$CLUSTER_STATE/run/$1.pid"; }
log_file() { echo "$CLUSTER_STATE/logs/$1.log"; }
running_pid() {
  local f pid
  f="$(pid_file "$1")"
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
kubectl_() { "$KUBE_BIN_DIR/kubectl" --kubeconfig "$CLUSTER_KUBECONFIG" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# Where `make test-setup` logs the cluster build it starts in the background (scripts/test-setup.sh).
CLUSTER_BACKGROUND_BUILD_LOG="$MLOPS_CACHE_DIR/logs/cluster-build.log"

# hold_build_lock: one cluster build at a time. A second one (the cluster tier while test-setup's
# background build still runs) waits for the first, then finds everything cached.
hold_build_lock() { hold_lock "$CLUSTER_CACHE/.build.lock" "the cluster" "$CLUSTER_BACKGROUND_BUILD_LOG"; }
