#!/usr/bin/env bash
# `make setup`: everything `make up` needs on this machine; what is there already is kept.
#
#   1. .venv with the program's and the tests' pinned Python packages;
#   2. the pinned Airflow chart package in .charts/ (copied from CHARTS_FROM, a folder of
#      packaged charts, else downloaded from the chart repository);
#   3. the Pulumi CLI, its Python language host and the Kubernetes provider plugin, built from
#      Go modules into .tools/bin (scripts/tools.sh) unless a `pulumi` is on PATH already;
#   4. when no kube context answers: the kit's local node (needs root): its Debian packages,
#      its tools (control plane, kubelet, kube-proxy, CoreDNS, volume provisioner) and the
#      stack local-node's images (scripts/images.sh), built side by side.
# Builds are cached in ~/.cache/airflow-kit: a cold machine takes ~20 min (Go builds), a warm
# one about a minute. Each step prints its time.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-python3}
CHARTS_FROM=${CHARTS_FROM:-}
NODE=${NODE:-auto}   # auto | yes | no: prepare the kit's local node
PULUMI_TOOLS=pulumi,pulumi-language-python,pulumi-resource-kubernetes
NODE_TOOLS=etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kubelet,kube-proxy,coredns,local-path-provisioner
mkdir -p .tools/logs
started=$SECONDS
step() { printf 'setup: %s (%ss)\n' "$1" "$((SECONDS - started))"; }

"$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt -c constraints.txt
mkdir -p .pulumi-state
step "virtualenv .venv ready"

if .venv/bin/python -m airflow_kit_platform.chart_source fetch ${CHARTS_FROM:+--from "$CHARTS_FROM"}; then
  step "chart ready"
else
  step "no local chart: stacks that install it from .charts/ (local-node) cannot deploy until it is there"
fi

if pulumi_on_path=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$REPO/.tools/bin" | paste -sd:) command -v pulumi); then
  step "using the Pulumi CLI at $pulumi_on_path"
  tool_list=""
else
  tool_list=$PULUMI_TOOLS
fi

node=$NODE
if [ "$node" = auto ]; then
  if .venv/bin/python -m airflow_kit_platform.local_cluster needs-node; then node=yes; else node=no; fi
fi
if [ "$node" = yes ] && [ "$(id -u)" != 0 ]; then
  step "no kube context answers and the kit's local node needs root: \`sudo make setup\`, or point KUBECONFIG at a cluster"
  node=no
fi

if [ "$node" = yes ]; then
  scripts/node-packages.sh
  step "node packages ready"
  scripts/tools.sh --only pause >.tools/logs/setup-pause.log 2>&1 || { tail -n 20 .tools/logs/setup-pause.log; exit 1; }
  # The images build (mmdebstrap, pip) beside the Go builds: different bottlenecks.
  ( scripts/images.sh build --stack local-node >.tools/logs/setup-images.log 2>&1; echo $? >.tools/logs/setup-images.rc ) &
  images=$!
  tool_list=${tool_list:+$tool_list,}$NODE_TOOLS
fi
if [ -n "$tool_list" ]; then
  echo "setup: building ${tool_list//,/ } (cached in ~/.cache/airflow-kit; cold: tens of minutes, log: .tools/logs/)"
  scripts/tools.sh --only "$tool_list"
  step "tools ready in .tools/bin"
fi
if [ "$node" = yes ]; then
  wait "$images" || true
  if [ "$(cat .tools/logs/setup-images.rc 2>/dev/null)" != 0 ]; then
    tail -n 30 .tools/logs/setup-images.log; echo "setup: image build failed (log: .tools/logs/setup-images.log)" >&2; exit 1
  fi
  grep '^\[images' .tools/logs/setup-images.log | tail -n 12 || true
  step "images ready for the kit's local node"
fi
step "done: \`make up\` deploys"
