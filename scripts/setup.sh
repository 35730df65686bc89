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
# Builds are cached in ~/.cache/airflow-kit: a cold machine takes ~21 min (the Go builds; the
# Kubernetes provider plugin is half of it), a warm one about a minute. Each step prints its time.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PYTHON=${PYTHON:-python3}
CHARTS_FROM=${CHARTS_FROM:-}
NODE=${NODE:-auto}   # auto | yes | no: prepare the kit's local node
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
  tool_sets=""
else
  tool_sets=pulumi
fi

node=$NODE
if [ "$node" = auto ]; then
  if .venv/bin/python -m repo_tools.local_cluster needs-node; then node=yes; else node=no; fi
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
  tool_sets=${tool_sets:+$tool_sets,}node
fi
if [ -n "$tool_sets" ]; then
  echo "setup: tool sets ${tool_sets//,/ } (scripts/toolsets.txt): $(scripts/tools.sh --list "$tool_sets" | paste -sd' ')"
  echo "setup: built from Go modules, cached in ~/.cache/airflow-kit (cold: ~20 min; logs: .tools/logs/)"
  scripts/tools.sh --set "$tool_sets"
  step "tools ready in .tools/bin"
fi
if [[ ",$tool_sets," == *,pulumi,* ]]; then
  # The engine warns at every run when the plugin is older than the SDK expects: refuse it here.
  .venv/bin/python -m repo_tools.local_cluster check-provider
  step "Kubernetes provider plugin matches the pulumi-kubernetes SDK"
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
