#!/usr/bin/env bash
# A local cluster with ONE REAL node: pods run in containers, Services and DNS work.
#
#   scripts/real-node.sh start DIR [--stack STACK]   control plane + node, the stack's images loaded
#   scripts/real-node.sh env DIR                     `export` lines (KUBECONFIG, ...) to eval
#   scripts/real-node.sh status DIR                  exit 0 when the node is Ready
#   scripts/real-node.sh stop DIR                    stop everything and undo every host change
#   scripts/real-node.sh reboot DIR                  the node's reboot: containers and node programs
#                                                    stopped hard, started again with their state
#   scripts/real-node.sh needs DIR                   the programs a start needs
#
# What runs (each a process of ours, stopped by the PID recorded in DIR/pids):
#   - the control plane of scripts/local-cluster.sh (no fake nodes), its API server bound to
#     the node's bridge address so pods reach it through the `kubernetes` Service;
#   - containerd (Debian's, with its CRI plugin) on its own socket, root and state under DIR;
#   - kubelet, kube-proxy (iptables mode) and CoreDNS (the `kube-dns` Service), built by
#     scripts/tools.sh; the pod sandbox is the kit's `pause` image;
#   - local-path-provisioner: the default StorageClass `local-path` (WaitForFirstConsumer, a
#     folder under DIR/volumes per volume) for the chart's volumes and local-disk tasks.
#   - kube-network-policies: enforces NetworkPolicies (the bridge CNI enforces none); it queues
#     the packets of pods some policy selects to itself (xtables' NFQUEUE through nft_compat, see
#     scripts/patches/kube-network-policies.sh) and drops what no policy allows.
# Images come from scripts/images.sh (built once, cached as archives; loaded in seconds).
#
# Host changes, all undone by `stop`: the bridge cni0 (10.88.0.1/16), the nftables table
# `inet kube-network-policies` (the enforcer's; start refuses to run when it exists), the sysctls
# net.ipv4.ip_forward and net.bridge.bridge-nf-call-ip{,6}tables (saved in DIR and restored),
# KUBE-* and CNI-* iptables/ip6tables chains (start refuses to run when any exist already), the
# pods' network namespaces, the kubelet's mounts and its cgroups (/kit-kubelet in every
# hierarchy), its links in /var/log/containers. Services listen on 127.0.0.1 or on the bridge address only. Needs root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${AIRFLOW_KIT_TOOLS:-$REPO/.tools}
export PATH="$TOOLS/bin:$PATH:/usr/sbin:/sbin"

BRIDGE=cni0
NODE_ADDRESS=10.88.0.1
POD_CIDR=10.88.0.0/16
DNS_SERVICE_IP=10.0.0.10  # in local-cluster.sh's service range 10.0.0.0/24
CGROUP_ROOT=kit-kubelet
STORAGE_CLASS=local-path
PROVISIONER_NAMESPACE=local-path-storage
HELPER_IMAGE=localhost/airflow-kit/debian:bookworm
KUBELET_PORT=10250
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
POLICY_TABLE=kube-network-policies  # the enforcer's nftables table (family inet)

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
# shellcheck source=scripts/processes.sh
. "$REPO/scripts/processes.sh"
[ $# -ge 2 ] || usage 2
CMD=$1; DIR=$2; shift 2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CLUSTER=$DIR/cluster
SOCK=$DIR/containerd/containerd.sock
NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')

kc() { kubectl --kubeconfig "$CLUSTER/kubeconfig" "$@"; }

stop_proc() {  # stop_proc NAME: SIGTERM, SIGKILL after 10 s
  local pid n
  pid=$(live_pid "$1") || { rm -f "$DIR/pids/$1.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  for n in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
  [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/pids/$1.pid"
  log "$1 stopped (pid $pid)"
}

kit_chains() {  # kit_chains iptables|ip6tables: "table chain" of every KUBE-*/CNI-* chain
  local table
  for table in filter nat mangle raw; do
    "$1" -t "$table" -S 2>/dev/null | awk -v t="$table" '$1 == "-N" && $2 ~ /^(KUBE|CNI)-/ {print t, $2}'
  done
}

# --- certificates: a client certificate per node agent, signed by the cluster CA -----------

# signed_cert NAME SUBJECT EXTENSION...: DIR/certs/NAME.{key,crt} signed by the cluster CA (kept once made).
signed_cert() {
  local c=$DIR/certs name=$1 subject=$2; shift 2
  [ -f "$c/$name.crt" ] && return 0
  openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$c/$name.key" -out "$c/$name.csr" 2>/dev/null
  printf '%s\n' "$@" >"$c/$name.ext"
  openssl x509 -req -in "$c/$name.csr" -CA "$CLUSTER/certs/ca.crt" -CAkey "$CLUSTER/certs/ca.key" -CAcreateserial \
    -days 3650 -extfile "$c/$name.ext" -out "$c/$name.crt" 2>/dev/null
  chmod 600 "$c/$name.key"
}

client_cert() {  # client_cert NAME CN ORGANIZATION
  signed_cert "$1" "/O=$3/CN=$2" "extendedKeyUsage=clientAuth"
}

agent_kubeconfig() {  # agent_kubeconfig NAME -> DIR/NAME.kubeconfig
  local server; server=$(awk '/server:/ {print $2; exit}' "$CLUSTER/kubeconfig")
  cat >"$DIR/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority: "$CLUSTER/certs/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$DIR/certs/$1.crt", client-key: "$DIR/certs/$1.key"}
contexts:
- name: local
  context: {cluster: local, user: $1}
current-context: local
EOF
  chmod 600 "$DIR/$1.kubeconfig"
}

serving_cert() {  # the kubelet's serving certificate (the API server calls it for logs, exec)
  signed_cert kubelet-serving "/CN=$NODE_NAME" "subjectAltName=DNS:$NODE_NAME,IP:127.0.0.1,IP:$NODE_ADDRESS" \
    "extendedKeyUsage=serverAuth"
}

# --- configuration files --------------------------------------------------------------------

write_containerd_config() {
  mkdir -p "$DIR/containerd" "$DIR/cni/conf"
  cat >"$DIR/containerd/config.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$SOCK"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "localhost/airflow-kit/pause:kit"
    stream_server_address = "127.0.0.1"
    enable_cdi = false
    # Without CAP_SYS_RESOURCE (VMs, nested containers) the sandbox's oom_score_adj cannot be
    # lowered: clamp it instead of failing every pod.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$DIR/containerd/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$DIR/cni/conf"
EOF
  cat >"$DIR/cni/conf/10-kit-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kit-bridge",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_ADDRESS"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$DIR/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

write_kubelet_config() {
  mkdir -p "$DIR/kubelet"
  cat >"$DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: "$CLUSTER/certs/ca.crt"}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://$SOCK
clusterDNS: ["$DNS_SERVICE_IP"]
clusterDomain: cluster.local
failSwapOn: false
resolvConf: /etc/resolv.conf
podLogsDir: $DIR/pod-logs
tlsCertFile: "$DIR/certs/kubelet-serving.crt"
tlsPrivateKeyFile: "$DIR/certs/kubelet-serving.key"
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(free_port)
serializeImagePulls: false
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
evictionHard: {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"}
maxPods: 60
podPidsLimit: -1
cgroupsPerQOS: true
cgroupRoot: /$CGROUP_ROOT
enforceNodeAllocatable: ["pods"]
protectKernelDefaults: false
makeIPTablesUtilChains: true
registerNode: true
# Without CAP_SYS_RESOURCE the default -999 cannot be applied.
oomScoreAdj: 0
EOF
}

write_corefile() {
  cat >"$DIR/Corefile" <<EOF
.:53 {
    bind $NODE_ADDRESS
    errors
    health 127.0.0.1:$(free_port)
    ready 127.0.0.1:$(free_port)
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $DIR/coredns.kubeconfig local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}
EOF
}

# Objects the node's services need: kube-dns (published at the CoreDNS on the bridge), the
# provisioner's namespace, scripts and StorageClass.
cluster_objects() {
  cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: airflow-kit-real-node}
addressType: IPv4
endpoints:
- addresses: ["$NODE_ADDRESS"]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: v1
kind: Namespace
metadata: {name: $PROVISIONER_NAMESPACE}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: $PROVISIONER_NAMESPACE}
data:
  config.json: '{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$DIR/volumes"]}]}'
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata: {name: helper-pod}
    spec:
      containers:
      - name: helper-pod
        image: $HELPER_IMAGE
        imagePullPolicy: IfNotPresent
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $STORAGE_CLASS
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
}

# --- start / stop ---------------------------------------------------------------------------

# The programs a start needs: Debian's (scripts/node-packages.sh), the `node` tool set of
# scripts/toolsets.txt (make setup builds it) and what local-cluster.sh needs without fake nodes.
needs() {
  echo containerd containerd-shim-runc-v2 runc ctr ip iptables ip6tables openssl
  "$REPO/scripts/tools.sh" --list node
  "$REPO/scripts/local-cluster.sh" needs "$CLUSTER" --no-kwok
}

preflight() {
  [ "$(id -u)" = 0 ] || die "needs root (containerd, kubelet, the bridge and iptables)"
  local b
  for b in $(needs); do
    command -v "$b" >/dev/null || die "$b not found: scripts/node-packages.sh installs the node's packages, scripts/tools.sh builds the rest"
  done
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins missing: scripts/node-packages.sh"
  if ip link show "$BRIDGE" >/dev/null 2>&1; then die "a bridge $BRIDGE exists already (another node running? scripts/real-node.sh stop DIR)"; fi
  local chains; chains=$( { kit_chains iptables; kit_chains ip6tables; } | head -n 3)
  [ -z "$chains" ] || die "KUBE-*/CNI-* iptables chains exist already (another node on this machine?): $chains"
  if nft list table inet "$POLICY_TABLE" >/dev/null 2>&1; then
    die "nftables table inet $POLICY_TABLE exists already (another node's NetworkPolicy enforcer?)"
  fi
  if ss -ltn "sport = :$KUBELET_PORT" | grep -q LISTEN; then die "port $KUBELET_PORT (kubelet) is in use"; fi
  if ss -lun "sport = :53" | grep -q "$NODE_ADDRESS:53\|0.0.0.0:53\|\*:53"; then die "port 53 is in use on all addresses"; fi
  getent hosts "$NODE_NAME" | grep -q '^127\.' \
    || die "the host name $NODE_NAME must resolve to a loopback address (/etc/hosts): the API server reaches the kubelet by it"
}

save_host_state() {
  local s
  : >"$DIR/host-state"
  for s in "${SYSCTLS[@]}"; do
    if sysctl -n "$s" >/dev/null 2>&1; then echo "sysctl $s $(sysctl -n "$s")" >>"$DIR/host-state"; fi
  done
  ls /var/run/netns 2>/dev/null | sed 's/^/netns /' >>"$DIR/host-state" || true
  # The kubelet always links container logs from here (its podLogsDir is under DIR).
  local d
  for d in /var/log/containers /var/log/pods; do [ -e "$d" ] || echo "absent $d" >>"$DIR/host-state"; done
  # containerd's shims always put their sockets in /run/containerd/s.
  [ -e /run/containerd ] || echo "absent-tree /run/containerd" >>"$DIR/host-state"
}

cmd_start() {
  local stack=local-node
  while [ $# -gt 0 ]; do
    case "$1" in
      --stack) stack=${2:?}; shift 2 ;;
      *) usage 2 ;;
    esac
  done
  preflight
  if live_pid kubelet >/dev/null; then die "already running in $DIR (stop it first)"; fi
  mkdir -p "$DIR/pids" "$DIR/logs" "$DIR/certs" "$DIR/volumes"
  rm -f "$DIR"/pids/*
  local started=$SECONDS
  trap 'log "start failed: undoing what was done"; cmd_stop' EXIT

  save_host_state
  # The bridge first: the API server and CoreDNS bind to its address.
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_ADDRESS/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  echo "bridge $BRIDGE" >>"$DIR/host-state"
  echo "nft-table $POLICY_TABLE" >>"$DIR/host-state"
  sysctl -qw net.ipv4.ip_forward=1
  # Pod-to-Service traffic between pods on the same bridge must pass iptables.
  if sysctl -n net.bridge.bridge-nf-call-iptables >/dev/null 2>&1; then
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
  fi

  # Images build (or come from the cache) while the control plane starts.
  ( "$REPO/scripts/images.sh" build --stack "$stack" >"$DIR/logs/images.log" 2>&1; echo $? >"$DIR/images.rc" ) &
  local images_pid=$!

  "$REPO/scripts/local-cluster.sh" start "$CLUSTER" --no-kwok --bind "$NODE_ADDRESS"

  write_containerd_config
  start_proc containerd containerd --config "$DIR/containerd/config.toml"
  wait_for 30 containerd ctr --address "$SOCK" version || die "containerd did not start (see $DIR/logs/containerd.log)"

  client_cert kubelet "system:node:$NODE_NAME" system:masters
  client_cert kube-proxy system:kube-proxy system:node-proxier
  client_cert coredns airflow-kit:coredns system:masters
  client_cert provisioner airflow-kit:local-path-provisioner system:masters
  client_cert network-policies airflow-kit:network-policies system:masters
  serving_cert
  local agent
  for agent in kubelet kube-proxy coredns provisioner network-policies; do agent_kubeconfig "$agent"; done
  cluster_objects | kc apply -f - >/dev/null

  wait "$images_pid" || true
  [ "$(cat "$DIR/images.rc" 2>/dev/null)" = 0 ] || { tail -n 30 "$DIR/logs/images.log" >&2; die "image build failed (see $DIR/logs/images.log)"; }
  "$REPO/scripts/images.sh" load --stack "$stack" --address "$SOCK" 2>>"$DIR/logs/images.log"

  write_kubelet_config
  write_corefile
  start_node_agents
  trap - EXIT
  log "real node up in $((SECONDS - started))s: KUBECONFIG=$CLUSTER/kubeconfig"
}

# The node's own programs after containerd (a boot starts them again with their state kept).
start_node_agents() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy" ] && [ ! -L "${hierarchy%/}" ] && mkdir -p "$hierarchy$CGROUP_ROOT"
  done
  start_proc kubelet kubelet --config "$DIR/kubelet/config.yaml" --kubeconfig "$DIR/kubelet.kubeconfig" \
    --root-dir "$DIR/kubelet/root" --cert-dir "$DIR/kubelet/pki" --node-ip "$NODE_ADDRESS" \
    --hostname-override "$NODE_NAME"
  start_proc kube-proxy kube-proxy --kubeconfig "$DIR/kube-proxy.kubeconfig" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$POD_CIDR" --oom-score-adj 0 \
    --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
    --iptables-localhost-nodeports=false \
    --metrics-bind-address "127.0.0.1:$(free_port)" --healthz-bind-address "127.0.0.1:$(free_port)"
  start_proc coredns coredns -conf "$DIR/Corefile"
  KUBECONFIG=$DIR/network-policies.kubeconfig start_proc network-policies kube-network-policies \
    --hostname-override "$NODE_NAME" --metrics-bind-address "127.0.0.1:$(free_port)" --v 2
  start_proc local-path-provisioner local-path-provisioner --debug start --kubeconfig "$DIR/provisioner.kubeconfig" \
    --namespace "$PROVISIONER_NAMESPACE" --configmap-name local-path-config --service-account-name default \
    --helper-image "$HELPER_IMAGE" --provisioner-name rancher.io/local-path
  wait_for 120 "node $NODE_NAME" kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s \
    || die "the node did not become Ready (see $DIR/logs/kubelet.log)"
}

# Stop the node's programs and kill every container, as a power cut would (the control plane
# stays). `--keep-containers`: containerd keeps its containers' records, as across a reboot.
stop_node_agents() {
  local name
  for name in local-path-provisioner network-policies coredns kube-proxy kubelet; do stop_proc "$name"; done
  # Whatever containers are left (the kubelet was killed, or pods would not stop).
  if live_pid containerd >/dev/null; then
    local task container
    for task in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$SOCK" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
    sleep 1
  fi
  if [ "${1:-}" != --keep-containers ] && live_pid containerd >/dev/null; then
    for task in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$SOCK" -n k8s.io tasks delete -f "$task" >/dev/null 2>&1 || true
    done
    for container in $(ctr --address "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do
      ctr --address "$SOCK" -n k8s.io containers delete "$container" >/dev/null 2>&1 || true
    done
  fi
  stop_proc containerd
  # Shims of our containerd (they outlive it): found by our socket path in their command line.
  local pid
  for pid in $(grep -lsF -- "$SOCK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [ "$pid" != "$$" ] && kill -9 "$pid" 2>/dev/null && log "containerd shim stopped (pid $pid)" || true
  done
  # Container processes whose shim is gone (containerd or the kubelet was killed): every process
  # still in the kubelet's cgroups belongs to one of our pods.
  local procs
  for procs in $(find /sys/fs/cgroup/*/"$CGROUP_ROOT" -name cgroup.procs 2>/dev/null); do
    for pid in $(cat "$procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
}

# What a reboot clears: the mounts under DIR (volumes, snapshots, sandboxes) and the pods' network namespaces.
unmount_node() {
  # Mounts under DIR (the kubelet's volumes, containerd's snapshots and sandboxes), deepest first.
  local target
  for target in $(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
  done
  # The pods' network namespaces made by containerd (not those that existed before start).
  local ns
  for ns in $(ls /var/run/netns 2>/dev/null); do
    case "$ns" in cni-*) ;; *) continue ;; esac
    grep -qxF "netns $ns" "$DIR/host-state" 2>/dev/null && continue
    umount "/var/run/netns/$ns" 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || rm -f "/var/run/netns/$ns"
  done
}

# A node reboot: every container and node program stopped hard, mounts and network namespaces
# gone, then containerd and the node's programs started again on the state they keep (images,
# the kubelet's and containerd's folders). The control plane (a managed one, elsewhere) stays up.
cmd_reboot() {
  live_pid kubelet >/dev/null || die "no node running in $DIR"
  local started=$SECONDS
  stop_node_agents --keep-containers
  unmount_node
  start_proc containerd containerd --config "$DIR/containerd/config.toml"
  wait_for 30 containerd ctr --address "$SOCK" version || die "containerd did not start (see $DIR/logs/containerd.log)"
  start_node_agents
  log "node rebooted in $((SECONDS - started))s"
}

cmd_stop() {
  [ -d "$DIR/pids" ] || { log "nothing started in $DIR"; return 0; }
  local name
  # Pods first, while the kubelet can still stop them cleanly.
  if live_pid kubelet >/dev/null && [ -f "$CLUSTER/kubeconfig" ]; then
    kc delete pods --all --all-namespaces --grace-period=5 --wait=false >/dev/null 2>&1 || true
    local n
    for n in $(seq 1 40); do
      [ -z "$(kc get pods -A -o name 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_node_agents
  "$REPO/scripts/local-cluster.sh" stop "$CLUSTER" 2>&1 | sed 's/^/  /' >&2 || true
  unmount_node
  # KUBE-*/CNI-* chains (kube-proxy --cleanup cannot run everywhere): unhook, flush, delete.
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    for table in filter nat mangle raw; do
      { "$cmd" -t "$table" -S 2>/dev/null | grep -E -- '-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' || true; } \
        | sed 's/^-A /-D /' | while read -r rule; do eval "$cmd -t $table $rule" 2>/dev/null || true; done
    done
    kit_chains "$cmd" | while read -r table chain; do "$cmd" -t "$table" -F "$chain" 2>/dev/null || true; done
    kit_chains "$cmd" | while read -r table chain; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
  done
  # The enforcer deletes its table when it stops; not when it was killed.
  if grep -qx "nft-table $POLICY_TABLE" "$DIR/host-state" 2>/dev/null; then
    nft delete table inet "$POLICY_TABLE" 2>/dev/null || true
  fi
  find /var/log/containers -maxdepth 1 -lname "$DIR/*" -delete 2>/dev/null || true
  local absent
  for absent in $(awk '$1 == "absent" {print $2}' "$DIR/host-state" 2>/dev/null); do
    rmdir "$absent" 2>/dev/null || true
  done
  for absent in $(awk '$1 == "absent-tree" {print $2}' "$DIR/host-state" 2>/dev/null); do
    rm -rf "$absent"
  done
  if grep -qx "bridge $BRIDGE" "$DIR/host-state" 2>/dev/null; then
    ip link delete "$BRIDGE" 2>/dev/null || true
    log "bridge $BRIDGE deleted"
  fi
  local key value
  { grep '^sysctl ' "$DIR/host-state" 2>/dev/null || true; } | while read -r _ key value; do
    sysctl -qw "$key=$value" 2>/dev/null || true
  done
  # The kubelet's cgroups, deepest first (empty once every container is gone).
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy$CGROUP_ROOT" ] || continue
    find "$hierarchy$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -f "$DIR/host-state"
  log "stopped; host changes undone"
}

cmd_env() {
  "$REPO/scripts/local-cluster.sh" env "$CLUSTER"
  printf 'export REAL_NODE_NAME=%q\n' "$NODE_NAME"
  printf 'export REAL_NODE_CONTAINERD=%q\n' "$SOCK"
}

case "$CMD" in
  start) cmd_start "$@" ;;
  needs) needs ;;
  stop) cmd_stop ;;
  reboot) cmd_reboot ;;
  env) cmd_env ;;
  status) kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s >/dev/null 2>&1 ;;
  *) usage 2 ;;
esac
