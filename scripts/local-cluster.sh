#!/usr/bin/env bash
# A throwaway Kubernetes control plane on loopback, for the e2e tests.
#
#   scripts/local-cluster.sh start DIR [--no-controllers] [--no-scheduler] [--nodes N] [--no-kwok] [--bind ADDRESS]
#   scripts/local-cluster.sh env DIR      # `export` lines (KUBECONFIG, ...) to eval
#   scripts/local-cluster.sh status DIR   # exit 0 when the API server answers /readyz
#   scripts/local-cluster.sh needs DIR [--no-kwok]   # the programs a start in that mode needs
#   scripts/local-cluster.sh stop DIR     # kill what `start` started (by recorded PID)
#
# Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (unless
# --no-controllers; --no-scheduler keeps the controllers only; or their binaries are missing) and kwok, each on a free 127.0.0.1
# port, then creates N fake Nodes (default 1) that kwok keeps Ready (--no-kwok: neither). With
# --bind, the API server listens on and advertises ADDRESS instead of 127.0.0.1, and publishes
# itself as the `kubernetes` Service's endpoint, so pods of a real node reach it
# (scripts/real-node.sh binds it to the node's bridge). Certificates (a
# self-signed CA, the serving cert, the service-account key pair) come from openssl;
# the client authenticates with a static token of group system:masters. DIR gets
# kubeconfig, certs/, pids/, logs/, ports.env. Binaries come from PATH, with
# ${AIRFLOW_KIT_TOOLS:-<repo>/.tools}/bin first (scripts/tools.sh builds them).
#
# What runs: kwok fakes only Node and Pod status (pods of a fake node become Running and
# Ready without running anything). Deployments, ReplicaSets, Jobs and StatefulSets make
# pods only with kube-controller-manager, and pods get a node only with kube-scheduler.
# Without controllers the ServiceAccount admission plugin is disabled (nothing would create
# the `default` ServiceAccount) and Pulumi's await logic waits forever on workloads unless
# they carry the annotation pulumi.com/skipAwait: "true".
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${AIRFLOW_KIT_TOOLS:-$REPO/.tools}
export PATH="$TOOLS/bin:$PATH"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
# shellcheck source=scripts/processes.sh
. "$REPO/scripts/processes.sh"
[ $# -ge 2 ] || usage 2
CMD=$1; DIR=$2; shift 2
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

kc() { kubectl --kubeconfig "$DIR/kubeconfig" "$@"; }

make_certs() {  # make_certs BIND_ADDRESS
  local c=$DIR/certs
  mkdir -p "$c"
  [ -f "$c/ca.crt" ] && [ -f "$c/apiserver.crt" ] && [ -f "$c/sa.key" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=airflow-kit-local-ca" \
    -keyout "$c/ca.key" -out "$c/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$c/apiserver.key" -out "$c/apiserver.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:$1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    "extendedKeyUsage=serverAuth" >"$c/apiserver.ext"
  openssl x509 -req -in "$c/apiserver.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
    -days 3650 -extfile "$c/apiserver.ext" -out "$c/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$c/sa.key" 2048 2>/dev/null
  openssl rsa -in "$c/sa.key" -pubout -out "$c/sa.pub" 2>/dev/null
  chmod 600 "$c"/*.key
}

write_kubeconfig() {
  cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$BIND:$APISERVER_PORT
    certificate-authority: $DIR/certs/ca.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: default}
current-context: local
EOF
  chmod 600 "$DIR/kubeconfig"
}

fake_node() {  # fake_node NAME
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $1
    type: kwok
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 500Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
}

# The programs a start needs, for its mode (KWOK: 1 fake nodes, 0 a real node's control plane):
# a real node's are all in `make setup`'s tool sets (tests/unit/test_toolsets.py checks).
needs() {
  echo etcd kube-apiserver kubectl openssl curl
  [ "$1" = 0 ] || echo kwok
}

cmd_start() {
  local controllers=1 scheduler=1 nodes=1 reconciler=none kwok=1
  BIND=127.0.0.1
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-controllers) controllers=0; shift ;;
      --no-scheduler) scheduler=0; shift ;;
      --nodes) nodes=${2:?}; shift 2 ;;
      --bind) BIND=${2:?}; reconciler=lease; shift 2 ;;
      --no-kwok) kwok=0; nodes=0; shift ;;
      *) usage 2 ;;
    esac
  done
  local b
  for b in $(needs "$kwok"); do
    command -v "$b" >/dev/null || die "$b not found (run scripts/tools.sh --only $b)"
  done
  KWOK_STAGES=${KWOK_STAGES:-$TOOLS/share/kwok/stages.yaml}
  [ "$kwok" = 0 ] || [ -f "$KWOK_STAGES" ] || die "$KWOK_STAGES missing (run scripts/tools.sh --only kwok)"
  if [ "$controllers" = 1 ] && ! { command -v kube-controller-manager && command -v kube-scheduler; } >/dev/null; then
    log "kube-controller-manager/kube-scheduler not found: starting without controllers"
    controllers=0
  fi
  if live_pid kube-apiserver >/dev/null; then die "already running in $DIR (stop it first)"; fi
  mkdir -p "$DIR/pids" "$DIR/logs"
  rm -f "$DIR"/pids/*
  # Leave nothing running behind a failed start.
  trap 'log "start failed: stopping what was started"; cmd_stop' EXIT

  make_certs "$BIND"
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); APISERVER_PORT=$(free_port)
  TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s,admin,admin-uid,"system:masters"\n' "$TOKEN" >"$DIR/certs/tokens.csv"
  chmod 600 "$DIR/certs/tokens.csv"
  cat >"$DIR/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
BIND=$BIND
CONTROLLERS=$controllers
EOF
  write_kubeconfig

  start_proc etcd etcd --name local --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health" || die "etcd did not start (see $DIR/logs/etcd.log)"

  # TaintNodesByCondition would give each new fake Node the not-ready taint, which only the
  # (disabled) node-lifecycle controller removes.
  local disabled=TaintNodesByCondition
  [ "$controllers" = 1 ] || disabled+=,ServiceAccount
  start_proc kube-apiserver kube-apiserver \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$BIND" --advertise-address "$BIND" --secure-port "$APISERVER_PORT" \
    --cert-dir "$DIR/certs" --tls-cert-file "$DIR/certs/apiserver.crt" --tls-private-key-file "$DIR/certs/apiserver.key" \
    --client-ca-file "$DIR/certs/ca.crt" --token-auth-file "$DIR/certs/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/certs/sa.pub" --service-account-signing-key-file "$DIR/certs/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --allow-privileged=true \
    --endpoint-reconciler-type "$reconciler" --disable-admission-plugins "$disabled"
  wait_for 90 kube-apiserver kc get --raw /readyz || die "kube-apiserver did not become ready (see $DIR/logs/kube-apiserver.log)"

  if [ "$controllers" = 1 ]; then
    # Quota usage is recounted every 15 s (Kubernetes' 5 min): under the benchmark's churn the
    # quota controller's status writes conflict with admission's and back off, and a stale count
    # refused creations on an empty namespace until the full recount (bench smoke, default/kit).
    start_proc kube-controller-manager kube-controller-manager \
      --kubeconfig "$DIR/kubeconfig" --leader-elect=false --secure-port 0 --resource-quota-sync-period 15s \
      --service-account-private-key-file "$DIR/certs/sa.key" --root-ca-file "$DIR/certs/ca.crt" \
      --cluster-signing-cert-file "$DIR/certs/ca.crt" --cluster-signing-key-file "$DIR/certs/ca.key" \
      --use-service-account-credentials=false --controllers '*,-nodeipam,-nodelifecycle,-service-lb-controller,-cloud-node-lifecycle-controller'
  fi
  if [ "$controllers" = 1 ] && [ "$scheduler" = 1 ]; then
    start_proc kube-scheduler kube-scheduler \
      --kubeconfig "$DIR/kubeconfig" --authentication-kubeconfig "$DIR/kubeconfig" \
      --authorization-kubeconfig "$DIR/kubeconfig" --leader-elect=false \
      --bind-address 127.0.0.1 --secure-port "$(free_port)"
  fi

  if [ "$kwok" = 1 ]; then
  start_proc kwok kwok --kubeconfig "$DIR/kubeconfig" --config "$KWOK_STAGES" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr 10.244.0.0/16 --node-ip 127.0.0.1 --server-address "127.0.0.1:$(free_port)"
  fi

  local i
  for i in $(seq 0 $((nodes - 1))); do fake_node "kwok-node-$i" | kc apply -f - >/dev/null; done
  if [ "$nodes" -gt 0 ]; then
    wait_for 60 "$nodes fake node(s)" kc wait --for=condition=Ready node --all --timeout=1s \
      || die "fake nodes did not become Ready (see $DIR/logs/kwok.log)"
  fi
  if [ "$controllers" = 1 ]; then
    wait_for 60 "default ServiceAccount" kc -n default get serviceaccount default \
      || die "no default ServiceAccount (see $DIR/logs/kube-controller-manager.log)"
  fi
  trap - EXIT
  log "cluster up: KUBECONFIG=$DIR/kubeconfig (server https://$BIND:$APISERVER_PORT)"
}

cmd_stop() {
  # SIGTERM the clients and the API server together, then etcd; SIGKILL after 10 s.
  local phase name pid n pids
  for phase in "kwok kube-scheduler kube-controller-manager kube-apiserver" "etcd"; do
    pids=()
    for name in $phase; do
      if pid=$(live_pid "$name"); then kill "$pid" 2>/dev/null || true; pids+=("$name:$pid"); fi
      rm -f "$DIR/pids/$name.pid"
    done
    for n in $(seq 1 40); do
      local alive=0 p
      for p in "${pids[@]}"; do [ -d "/proc/${p#*:}" ] && alive=1; done
      [ "$alive" = 1 ] || break
      sleep 0.25
    done
    for p in "${pids[@]}"; do
      if [ -d "/proc/${p#*:}" ]; then kill -9 "${p#*:}" 2>/dev/null || true; fi
      log "${p%%:*} stopped (pid ${p#*:})"
    done
  done
}

cmd_env() {
  [ -f "$DIR/kubeconfig" ] || die "no cluster in $DIR"
  # shellcheck disable=SC1091
  . "$DIR/ports.env"
  printf 'export KUBECONFIG=%q\n' "$DIR/kubeconfig"
  printf 'export LOCAL_CLUSTER_SERVER=%q\n' "https://${BIND:-127.0.0.1}:$APISERVER_PORT"
  printf 'export LOCAL_CLUSTER_TOKEN=%q\n' "$(cut -d, -f1 "$DIR/certs/tokens.csv")"
  printf 'export LOCAL_CLUSTER_CA=%q\n' "$DIR/certs/ca.crt"
  printf 'export LOCAL_CLUSTER_CONTROLLERS=%q\n' "$CONTROLLERS"
}

case "$CMD" in
  start) cmd_start "$@" ;;
  needs) if [ "${1:-}" = --no-kwok ]; then needs 0; else needs 1; fi ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) kc get --raw /readyz >/dev/null 2>&1 ;;
  *) usage 2 ;;
esac
