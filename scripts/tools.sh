#!/usr/bin/env bash
# Build (or link) the e2e-test toolchain into ${AIRFLOW_KIT_TOOLS:-<repo>/.tools}/bin.
#
#   scripts/tools.sh [--only NAME,...] [--set SET,...] [--jobs N] [--force]   build what is missing
#   scripts/tools.sh --print-env                                print `export` lines (no build)
#   scripts/tools.sh --list [SET,...]                           list the tool names (of those sets)
#
# Everything comes from the Go module proxy (the only source of Go code this machine and
# CI reach), at the versions in components/versions.py. Go's module and build caches live
# under ${AIRFLOW_KIT_CACHE:-$HOME/.cache/airflow-kit} (about 14 GB once warm), with a copy of
# every built tool in <cache>/store. A tool is skipped when <bin>/<tool> exists and its stamp
# (<tools>/stamps/<tool>) records the wanted version; else it is copied from the store (a
# fresh clone with a warm cache takes seconds); else a tool already on PATH at the wanted
# version is symlinked; else it is built (all of them: ~28 min on 2 cores). --jobs N runs
# N builds at once (default 1: go build already keeps both cores busy; 2 measured no
# faster, 18m06s vs 18m07s, and needs more memory). A failing tool does not stop
# the others: the script ends non-zero listing the failures; <tools>/status.txt has one
# line per tool, <tools>/build-times.txt one line per build, <tools>/logs/<tool>.log the
# build output.
#
# Upstream gaps on the proxy (see the notes in components/versions.py):
#   - pkg/v3 is not served at PULUMI_CLI_VERSION, so the CLI is built at
#     PULUMI_CLI_BUILD_VERSION (the nearest served release);
#   - the Python language host module is not served at all: a small stand-in host
#     (Python, gRPC, runs the upstream pulumi-language-python-exec script) is installed;
#   - pulumi-kubernetes provider/v4 is served only at one pseudo-version (see
#     PULUMI_KUBERNETES_PROVIDER_BUILD_*);
#   - pulumi-random provider/v4 is not served (the kit generates secrets with a dynamic
#     resource, served by `pulumi-resource-pulumi-python` installed with the language host).
set -euo pipefail
shopt -s inherit_errexit

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${AIRFLOW_KIT_TOOLS:-$REPO/.tools}
CACHE=${AIRFLOW_KIT_CACHE:-$HOME/.cache/airflow-kit}
BIN=$TOOLS/bin

# The sets (pulumi, node, fake-nodes, charts, schedulers) live in one table beside this script,
# read by setup.sh, real-node.sh and the kit's Python side too.
declare -A TOOLSET=()
ALL_TOOLS=()
while read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  TOOLSET[${line%%:*}]=${line#*: }
  # shellcheck disable=SC2206
  ALL_TOOLS+=(${line#*: })
done <"$(dirname "${BASH_SOURCE[0]}")/toolsets.txt"
set_members() {  # set_members SET,SET... -> the tools, one per line (fails naming an unknown set)
  local s sets
  IFS=, read -r -a sets <<<"$1"
  for s in "${sets[@]}"; do
    [ -n "${TOOLSET[$s]+x}" ] || { echo "tools.sh: unknown tool set '$s' (sets: ${!TOOLSET[*]})" >&2; return 2; }
    printf '%s\n' ${TOOLSET[$s]}
  done
}

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

ONLY="" PRINT_ENV=0 JOBS=${AIRFLOW_KIT_TOOLS_JOBS:-1} FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=${2:?--only needs a list}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --set) ONLY=${ONLY:+$ONLY,}$(set_members "${2:?--set needs a list}" | paste -sd,) || exit 2; shift 2 ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    --jobs=*) JOBS=${1#--jobs=}; shift ;;
    --force) FORCE=1; shift ;;
    --print-env) PRINT_ENV=1; shift ;;
    --list) if [ -n "${2:-}" ]; then set_members "$2"; exit; fi; printf '%s\n' "${ALL_TOOLS[@]}"; exit 0 ;;
    -h|--help) usage 0 ;;
    *) echo "tools.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

if [ "$PRINT_ENV" = 1 ]; then
  # Plugins are found on PATH (ambient plugins), so PULUMI_IGNORE_AMBIENT_PLUGINS must
  # stay unset; automatic acquisition would try get.pulumi.com, which is unreachable.
  printf 'export AIRFLOW_KIT_TOOLS=%q\n' "$TOOLS"
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
  echo 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true'
  echo 'export PULUMI_SKIP_UPDATE_CHECK=true'
  echo 'unset PULUMI_IGNORE_AMBIENT_PLUGINS'
  exit 0
fi

eval "$(python3 "$REPO/components/versions.py" --shell)"
. "$REPO/scripts/build-versions.sh"
: "${PULUMI_CLI_BUILD_VERSION:=$PULUMI_CLI_VERSION}"

# --- Go environment: all caches under $CACHE --------------------------------------------
if command -v go >/dev/null 2>&1; then GO=$(command -v go)
elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
else echo "tools.sh: no Go toolchain (go on PATH or /usr/local/go/bin/go)" >&2; exit 1; fi
export GOPATH=$CACHE/go
export GOMODCACHE=$CACHE/go/pkg/mod
export GOCACHE=$CACHE/go-build
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
unset GOBIN GOWORK || true
WORK=$CACHE/work   # writable copies of module sources (the module cache is read-only)

mkdir -p "$BIN" "$TOOLS/stamps" "$TOOLS/logs" "$TOOLS/.results" "$WORK" "$GOPATH"
rm -f "$TOOLS/.results"/*

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Wanted version (the stamp's content) per tool; bump the "#rN" suffix when a recipe changes.
want_version() {
  case "$1" in
    pulumi) echo "$PULUMI_CLI_BUILD_VERSION" ;;
    pulumi-language-python) echo "standin-$PULUMI_CLI_BUILD_VERSION#r4" ;;
    pulumi-resource-kubernetes) echo "$PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION ($PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE, sdk $PULUMI_KUBERNETES_PROVIDER_BUILD_SDK)" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy) echo "v$KUBERNETES_VERSION" ;;
    koord-scheduler) echo "v$KOORDINATOR_VERSION" ;;
    vc-scheduler|vc-controller-manager) echo "v$VOLCANO_BUILD_VERSION (apis v$VOLCANO_APIS_BUILD_VERSION)" ;;
    coredns) echo "v$COREDNS_VERSION#r1" ;;
    local-path-provisioner) echo "v$LOCAL_PATH_PROVISIONER_VERSION" ;;
    kube-network-policies) echo "v$KUBE_NETWORK_POLICIES_VERSION#kit-r1" ;;
    pause) echo "kit-pause#r1" ;;
    kubectl) echo "path-or-v$KUBERNETES_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "v$KWOK_VERSION#r2" ;;
    helm) echo "v$HELM_VERSION" ;;
    *) return 1 ;;
  esac
}

# Print the path of a tool on PATH (outside $BIN) whose version is the wanted one.
on_path_at_version() {
  local tool=$1 p out
  p=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd:) \
    command -v "$tool" 2>/dev/null) || return 1
  case "$tool" in
    pulumi) out=$("$p" version 2>/dev/null) && [ "$out" = "v$PULUMI_CLI_BUILD_VERSION" ] ;;
    etcd) out=$("$p" --version 2>/dev/null) && grep -qx "etcd Version: $ETCD_VERSION" <<<"$out" ;;
    kwok) out=$("$p" --version 2>/dev/null) && grep -q "v$KWOK_VERSION" <<<"$out" ;;
    helm) out=$("$p" version --template '{{.Version}}' 2>/dev/null) && [ "$out" = "v$HELM_VERSION" ] ;;
    kube-apiserver|kube-controller-manager|kube-scheduler)
      out=$("$p" --version 2>/dev/null) && [ "$out" = "Kubernetes v$KUBERNETES_VERSION" ] ;;
    kubectl) "$p" version --client >/dev/null 2>&1 ;;  # any kubectl works against loopback
    *) return 1 ;;
  esac || return 1
  echo "$p"
}

# go mod download -json MODULE@VERSION -> prints the module's Dir (fails with the proxy's error)
mod_dir() {
  local json
  json=$(cd "$WORK" && "$GO" mod download -json "$1") || { echo "$json" >&2; return 1; }
  python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("Error"); print(d["Dir"]) if not e else sys.exit(e)' <<<"$json"
}

# Fresh writable copy of a module under $WORK/$2
copy_mod() {
  local src=$1 dst=$WORK/$2
  rm -rf "$dst"; mkdir -p "$(dirname "$dst")"
  cp -r "$src" "$dst"; chmod -R u+w "$dst"
}

# --- recipes: each builds into $BIN (runs in its own subshell, output in logs/<tool>.log) ---

build_pulumi() {
  local v=$PULUMI_CLI_BUILD_VERSION pkg sdk w=$WORK/pulumi-$PULUMI_CLI_BUILD_VERSION
  pkg=$(mod_dir "github.com/pulumi/pulumi/pkg/v3@v$v")
  sdk=$(mod_dir "github.com/pulumi/pulumi/sdk/v3@v$v")
  # pkg's go.mod says `replace sdk/v3 => ../sdk`: lay both out side by side. Its other
  # replaces (the clipboard fork, golang.org/x/text) are module versions and just work.
  copy_mod "$pkg" "pulumi-$v/pkg"
  copy_mod "$sdk" "pulumi-$v/sdk"
  (cd "$w/pkg" && "$GO" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$v" \
    -o "$BIN/pulumi" ./cmd/pulumi)
}

build_pulumi-language-python() {
  # Upstream host module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
  # is refused by the proxy (403 "not available", every version), so: stand-in host +
  # the upstream exec script from the sdk/v3 module.
  local v=$PULUMI_CLI_BUILD_VERSION sdk
  sdk=$(mod_dir "github.com/pulumi/pulumi/sdk/v3@v$v")
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
  write_langhost "$BIN/pulumi-language-python-host.py"
  { echo '#!/usr/bin/env bash'
    echo '# airflow-kit stand-in Python language host (see pulumi-language-python-host.py).'
    write_python_lookup
    echo 'export AIRFLOW_KIT_LANGHOST_VERSION=@VERSION@'
    echo 'exec "${py:-python3}" "$(dirname "$(readlink -f "$0")")/pulumi-language-python-host.py" "$@"'
  } >"$BIN/pulumi-language-python"
  sed -i "s/@VERSION@/$v/" "$BIN/pulumi-language-python"
  # The engine starts this plugin, from the CLI's folder, for `pulumi.dynamic` resources.
  { echo '#!/usr/bin/env bash'
    echo "# Serves the program's Pulumi dynamic resources with the program's own Python."
    write_python_lookup
    echo 'exec "${py:-python3}" -u -m pulumi.dynamic "$@"'
  } >"$BIN/pulumi-resource-pulumi-python"
  chmod 0755 "$BIN/pulumi-language-python" "$BIN/pulumi-resource-pulumi-python"
}

# Shell lines that set $py to a Python with the `pulumi` package: the first of PULUMI_PYTHON_CMD,
# PULUMI_RUNTIME_VIRTUALENV, the active virtualenv, runtime option `virtualenv` in ./Pulumi.yaml,
# ./venv, ./.venv (else python3).
write_python_lookup() {
  cat <<'EOF'
py=${PULUMI_PYTHON_CMD:-}
if [ -z "$py" ] && [ -n "${PULUMI_RUNTIME_VIRTUALENV:-}" ]; then py=${PULUMI_RUNTIME_VIRTUALENV%/}/bin/python; fi
if [ -z "$py" ] && [ -n "${VIRTUAL_ENV:-}" ]; then py=$VIRTUAL_ENV/bin/python; fi
if [ -z "$py" ] && [ -f Pulumi.yaml ]; then
  venv=$(sed -n "s/^[[:space:]]*virtualenv:[[:space:]]*[\"']\{0,1\}\([^\"'#[:space:]]*\).*/\1/p" Pulumi.yaml | head -n 1)
  if [ -n "$venv" ]; then case "$venv" in /*) ;; *) venv=$PWD/$venv ;; esac; py=$venv/bin/python; fi
fi
for d in venv .venv; do
  if [ -z "$py" ] && [ -x "$d/bin/python" ]; then py=$PWD/$d/bin/python; fi
done
EOF
}

write_langhost() {
  cat >"$1" <<'PYEOF'
"""Minimal Pulumi Python language host (airflow-kit stand-in, written by scripts/tools.sh).

The upstream host module (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
is not served by the Go module proxy reachable here. This small gRPC server implements
what `pulumi preview/up/refresh/destroy` need: Run starts the upstream
`pulumi-language-python-exec` script (copied from the sdk/v3 Go module) in a child Python,
and it reports no required plugins, so the engine loads each provider lazily (from PATH)
when the program registers a resource. Not implemented: `pulumi new`, `pulumi install`,
`pulumi convert`, policy packs, debugging, plugin/dependency listing in `pulumi about`.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from concurrent import futures

import grpc
from pulumi.runtime.proto import language_pb2, plugin_pb2
from pulumi.runtime.proto.language_pb2_grpc import (
    LanguageRuntimeServicer,
    add_LanguageRuntimeServicer_to_server,
)

HERE = os.path.dirname(os.path.realpath(__file__))
EXEC = os.path.join(HERE, "pulumi-language-python-exec")
VERSION = os.environ.get("AIRFLOW_KIT_LANGHOST_VERSION", "0.0.0")
USER_ACTIONABLE_EXIT = 32  # the exec script's code after printing a message for the user


def _options(info):
    if info is None or not info.HasField("options"):
        return {}
    return dict(info.options.items())


def _python_for(info):
    """The interpreter that runs the program: runtime option `virtualenv`, else ours."""
    venv = _options(info).get("virtualenv")
    if venv:
        root = info.root_directory or os.getcwd()
        path = venv if os.path.isabs(venv) else os.path.join(root, venv)
        for name in ("python", "python3"):
            candidate = os.path.join(path, "bin", name)
            if os.path.exists(candidate):
                return candidate
    return sys.executable


class Host(LanguageRuntimeServicer):
    def __init__(self, engine_address):
        self.engine_address = engine_address

    def Handshake(self, request, context):
        if request.engine_address:
            self.engine_address = request.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request, context):
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request, context):
        return language_pb2.GetRequiredPackagesResponse()

    def InstallDependencies(self, request, context):
        return iter(())

    def RuntimeOptionsPrompts(self, request, context):
        return language_pb2.RuntimeOptionsResponse()

    def GetProgramDependencies(self, request, context):
        return language_pb2.GetProgramDependenciesResponse()

    def About(self, request, context):
        python = _python_for(request.info if request.HasField("info") else None)
        version = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        return language_pb2.AboutResponse(executable=python, version=version)

    def Run(self, request, context):
        info = request.info if request.HasField("info") else None
        program = request.program or "."
        if info is not None and info.program_directory:
            program = os.path.join(info.program_directory, info.entry_point or ".")
        args = [
            _python_for(info), "-u", EXEC,
            "--monitor", request.monitor_address,
            "--engine", self.engine_address,
            "--project", request.project,
            "--stack", request.stack,
            "--pwd", request.pwd,
            "--dry_run", "true" if request.dryRun else "false",
            "--parallel", str(request.parallel),
            "--organization", request.organization or "organization",
        ]
        if info is not None and info.root_directory:
            args += ["--root_directory", info.root_directory]
        args += [program, *request.args]
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        code = subprocess.run(args, env=env, cwd=request.pwd or None, check=False).returncode
        if code == 0:
            return language_pb2.RunResponse()
        if code == USER_ACTIONABLE_EXIT:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")


def main():
    # The engine passes its own address as the last argument (after any flags).
    positional = [a for a in sys.argv[1:] if not a.startswith("-")]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_LanguageRuntimeServicer_to_server(Host(positional[-1] if positional else ""), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The engine ends plugins with SIGINT (then SIGKILL): stop quietly, no traceback.
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    main()
PYEOF
}

build_pulumi-resource-kubernetes() {
  # provider/v4 has no provider/v4.* tags; the proxy serves exactly one pseudo-version.
  # go.mod replaces sdk/v4 => ../sdk: lay the served sdk/v4 release of the same day beside it.
  local v=$PULUMI_KUBERNETES_PROVIDER_BUILD_VERSION prov sdk w
  w=$WORK/pulumi-kubernetes-$PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE
  prov=$(mod_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE")
  sdk=$(mod_dir "github.com/pulumi/pulumi-kubernetes/sdk/v4@$PULUMI_KUBERNETES_PROVIDER_BUILD_SDK")
  copy_mod "$prov" "pulumi-kubernetes-$PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE/provider"
  copy_mod "$sdk" "pulumi-kubernetes-$PULUMI_KUBERNETES_PROVIDER_BUILD_MODULE/sdk"
  # main.go embeds schema-embed.json / terraform-mapping-embed.json (gitignored upstream).
  (cd "$w/provider/cmd/pulumi-resource-kubernetes" && VERSION=$v "$GO" run generate.go)
  (cd "$w/provider" && "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$v" \
    -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
}

# Wrapper module for k8s.io/kubernetes: it requires its staging repos at v0.0.0 and replaces
# them with ./staging paths, so replace each with its published v0.<minor>.<patch>.
kube_wrapper() {
  local w=$WORK/kube-v$KUBERNETES_VERSION k stamp
  stamp="kubernetes v$KUBERNETES_VERSION r2"
  if [ -f "$w/.ready" ] && [ "$(cat "$w/.ready")" = "$stamp" ]; then echo "$w"; return; fi
  k=$(mod_dir "k8s.io/kubernetes@v$KUBERNETES_VERSION")
  rm -rf "$w"; mkdir -p "$w"
  {
    printf 'module airflow-kit/kubetools\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KUBERNETES_VERSION"
    sed -n '/^replace (/,/^)/p' "$k/go.mod" | awk -v v="v0.${KUBERNETES_VERSION#1.}" \
      '$2 == "=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " " v}'
    printf ')\n'
  } >"$w/go.mod"
  # Resolve every command's dependencies now, so parallel builds never edit go.mod/go.sum.
  (cd "$w" && "$GO" list -deps k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy >/dev/null)
  echo "$stamp" >"$w/.ready"
  echo "$w"
}

build_kube() {
  local tool=$1 w minor=${KUBERNETES_VERSION#*.}; minor=${minor%%.*}
  w=$(kube_wrapper)
  local x="" pkg
  # Without these, clients see v0.0.0 (and the Pulumi provider refuses the cluster).
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    x+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w$x" -o "$BIN/$tool" "k8s.io/kubernetes/cmd/$tool")
}
build_kube-apiserver() { build_kube kube-apiserver; }
build_kube-controller-manager() { build_kube kube-controller-manager; }
build_kube-scheduler() { build_kube kube-scheduler; }
build_kubelet() { build_kube kubelet; }
build_kube-proxy() { build_kube kube-proxy; }

# koord-scheduler: the module's replaces all point at published k8s.io versions, so a
# writable copy of the module builds as it is.
build_koord-scheduler() {
  local src w=$WORK/koordinator-v$KOORDINATOR_VERSION
  src=$(mod_dir "github.com/koordinator-sh/koordinator@v$KOORDINATOR_VERSION")
  if [ ! -f "$w/.ready" ]; then copy_mod "$src" "koordinator-v$KOORDINATOR_VERSION"; touch "$w/.ready"; fi
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/koord-scheduler" ./cmd/koord-scheduler)
}

# Volcano: the module replaces volcano.sh/apis with ./staging (absent from the module zip):
# point that one replace at the served apis module; every other replace stays as upstream.
volcano_src() {
  local src w=$WORK/volcano-v$VOLCANO_BUILD_VERSION stamp="apis v$VOLCANO_APIS_BUILD_VERSION r1"
  if [ -f "$w/.ready" ] && [ "$(cat "$w/.ready")" = "$stamp" ]; then echo "$w"; return; fi
  src=$(mod_dir "volcano.sh/volcano@v$VOLCANO_BUILD_VERSION")
  copy_mod "$src" "volcano-v$VOLCANO_BUILD_VERSION"
  sed -i "s#^\([[:space:]]*volcano.sh/apis =>\) \./staging/src/volcano.sh/apis#\1 volcano.sh/apis v$VOLCANO_APIS_BUILD_VERSION#" "$w/go.mod"
  grep -q "volcano.sh/apis => volcano.sh/apis v$VOLCANO_APIS_BUILD_VERSION" "$w/go.mod"
  (cd "$w" && "$GO" mod download volcano.sh/apis && "$GO" list -deps ./cmd/scheduler ./cmd/controller-manager >/dev/null)
  echo "$stamp" >"$w/.ready"
  echo "$w"
}
build_vc() {
  local w; w=$(volcano_src)
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/$1" "./cmd/$2")
}
build_vc-scheduler() { build_vc vc-scheduler scheduler; }
build_vc-controller-manager() { build_vc vc-controller-manager controller-manager; }

# CoreDNS with only the plugins a cluster DNS needs (upstream's main links ~50 plugins).
build_coredns() {
  local w=$WORK/coredns-v$COREDNS_VERSION
  rm -rf "$w"; mkdir -p "$w"
  printf 'module airflow-kit/coredns\n\ngo 1.23\n\nrequire github.com/coredns/coredns v%s\n' "$COREDNS_VERSION" >"$w/go.mod"
  cat >"$w/main.go" <<'GOEOF'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The order of upstream's plugin.cfg, restricted to the plugins linked above.
func init() {
	dnsserver.Directives = []string{"reload", "bind", "ready", "health", "errors", "log",
		"loadbalance", "cache", "kubernetes", "loop", "forward"}
}

func main() { coremain.Run() }
GOEOF
  (cd "$w" && "$GO" mod tidy && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/coredns" .)
}

build_local-path-provisioner() {
  local src w=$WORK/local-path-provisioner-v$LOCAL_PATH_PROVISIONER_VERSION
  src=$(mod_dir "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION")
  copy_mod "$src" "local-path-provisioner-v$LOCAL_PATH_PROVISIONER_VERSION"
  rm -rf "$w/vendor"  # module zips carry no vendor tree
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w" \
    -o "$BIN/local-path-provisioner" .)
}

# kube-network-policies with two small changes (scripts/patches/kube-network-policies.sh):
# packets go to its queue through xtables' NFQUEUE target (nft_compat) where the kernel has no
# nft_queue, and it reads $KUBECONFIG when it runs as a node program rather than in a pod.
build_kube-network-policies() {
  local src w=$WORK/kube-network-policies-v$KUBE_NETWORK_POLICIES_VERSION
  src=$(mod_dir "sigs.k8s.io/kube-network-policies@v$KUBE_NETWORK_POLICIES_VERSION")
  copy_mod "$src" "kube-network-policies-v$KUBE_NETWORK_POLICIES_VERSION"
  "$REPO/scripts/patches/kube-network-policies.sh" "$w"
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/kube-network-policies" ./cmd)
}

build_pause() {
  # The pod sandbox's process for the real node's containerd (packed into an image by
  # scripts/images.sh): waits for SIGTERM and reaps the pod's zombies.
  local w=$WORK/kit-pause
  rm -rf "$w"; mkdir -p "$w"
  printf 'module airflow-kit/pause\n\ngo 1.21\n' >"$w/go.mod"
  cat >"$w/main.go" <<'GOEOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 8)
	signal.Notify(children, syscall.SIGCHLD)
	go func() {
		for range children {
			for {
				var status syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
		}
	}()
	<-stop
	os.Exit(0)
}
GOEOF
  (cd "$w" && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN/pause" .)
}

build_kubectl() {
  local p
  if p=$(on_path_at_version kubectl); then ln -sfn "$p" "$BIN/kubectl"; return; fi
  build_kube kubectl
}

build_etcd() {
  local w=$WORK/etcd-$ETCD_VERSION
  rm -rf "$w"; mkdir -p "$w"
  printf 'module airflow-kit/etcdtool\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$w/go.mod"
  (cd "$w" && "$GO" mod download go.etcd.io/etcd/server/v3 && "$GO" build -trimpath \
    -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

go_install_to_bin() {  # go_install_to_bin MODULE/PKG@VERSION NAME
  local tmp=$WORK/gobin-$2
  rm -rf "$tmp"; mkdir -p "$tmp"
  GOBIN=$tmp GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w${3:-}" "$1"
  mv -f "$tmp/$2" "$BIN/$2"
}
build_kwok() {
  go_install_to_bin "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" kwok
  # kwok exits with "no stages found" unless given Stage objects: ship its default ones
  # (what kwokctl uses: fast node init, node heartbeat, general pod lifecycle).
  local src st
  src=$(mod_dir "sigs.k8s.io/kwok@v$KWOK_VERSION")/kustomize/stage
  mkdir -p "$TOOLS/share/kwok"
  for st in node/fast node/heartbeat pod/general; do
    sed -n 's/^- \(.*\.yaml\)$/\1/p' "$src/$st/kustomization.yaml" | while read -r f; do
      printf -- '---\n'; cat "$src/$st/$f"
    done
  done >"$TOOLS/share/kwok/stages.yaml"
}
build_helm() {
  go_install_to_bin "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" helm \
    " -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
}

# --- binary store: built files are also kept under $CACHE/store, so a fresh clone (CI) with
# a warm cache gets them back by copying instead of relinking ---------------------------------
STORE=$CACHE/store
tool_files() {  # files (relative to $TOOLS) that make up a tool
  case "$1" in
    pulumi-language-python) echo bin/pulumi-language-python bin/pulumi-language-python-exec bin/pulumi-language-python-host.py \
      bin/pulumi-resource-pulumi-python ;;
    kwok) echo bin/kwok share/kwok/stages.yaml ;;
    *) echo "bin/$1" ;;
  esac
}
store_dir() { echo "$STORE/$1-$(printf '%s' "$1 $(want_version "$1")" | sha256sum | cut -c1-16)"; }
store_put() {
  local d f; d=$(store_dir "$1")
  [ -L "$BIN/$1" ] && return 0  # a link to a tool on PATH: nothing to keep
  rm -rf "$d.tmp"
  for f in $(tool_files "$1"); do
    mkdir -p "$d.tmp/$(dirname "$f")"; cp -p "$TOOLS/$f" "$d.tmp/$f"
  done
  rm -rf "$d"; mv "$d.tmp" "$d"
}
store_get() {
  local d f; d=$(store_dir "$1")
  for f in $(tool_files "$1"); do [ -e "$d/$f" ] || return 1; done
  for f in $(tool_files "$1"); do
    mkdir -p "$TOOLS/$(dirname "$f")"
    cp -p "$d/$f" "$TOOLS/$f.tmp.$$" && mv -f "$TOOLS/$f.tmp.$$" "$TOOLS/$f"
  done
}

# --- driver ------------------------------------------------------------------------------

run_tool() {  # runs in a background subshell; writes $TOOLS/.results/<tool>
  local tool=$1 want start end secs p rc=0
  want=$(want_version "$tool")
  if [ "$FORCE" = 0 ] && [ -x "$BIN/$tool" ] && [ -f "$TOOLS/stamps/$tool" ] \
    && [ "$(cat "$TOOLS/stamps/$tool")" = "$want" ]; then
    echo "ok $want cached" >"$TOOLS/.results/$tool"; return 0
  fi
  if [ "$FORCE" = 0 ] && store_get "$tool"; then
    echo "$want" >"$TOOLS/stamps/$tool"
    log "$tool: restored from $(store_dir "$tool")"
    echo "ok $want restored" >"$TOOLS/.results/$tool"; return 0
  fi
  if [ "$tool" != kubectl ] && p=$(on_path_at_version "$tool"); then
    ln -sfn "$p" "$BIN/$tool"; echo "$want" >"$TOOLS/stamps/$tool"
    log "$tool: linked $p"
    echo "ok $want linked" >"$TOOLS/.results/$tool"; return 0
  fi
  log "$tool: building $want (log: $TOOLS/logs/$tool.log)"
  rm -f "$TOOLS/stamps/$tool"
  start=$(date +%s)
  # Not `( ... ) || rc=$?`: errexit is ignored inside a subshell whose status is tested.
  local TIMEFORMAT='%U %S' cpu
  set +e
  { time { ( set -e; "build_$tool" ) >"$TOOLS/logs/$tool.log" 2>&1; }; } 2>"$TOOLS/logs/$tool.cpu"
  rc=$?
  set -e
  end=$(date +%s); secs=$((end - start))
  # CPU seconds (user+sys) of the build: compare with wall time to judge parallelism.
  cpu=$(awk '{printf "%d", $1 + $2}' "$TOOLS/logs/$tool.cpu" 2>/dev/null || echo "?")
  if [ "$rc" = 0 ] && [ -x "$BIN/$tool" ]; then
    echo "$want" >"$TOOLS/stamps/$tool"
    store_put "$tool" || log "$tool: could not keep a copy in $STORE"
    log "$tool: ok in ${secs}s (cpu ${cpu}s)"
    printf '%s %s %s wall=%ss cpu=%ss jobs=%s\n' "$(date -u +%FT%TZ)" "$tool" "$want" "$secs" "$cpu" "$JOBS" >>"$TOOLS/build-times.txt"
    echo "ok $want built ${secs}s" >"$TOOLS/.results/$tool"
  else
    log "$tool: FAILED after ${secs}s; last lines of $TOOLS/logs/$tool.log:"
    tail -n 8 "$TOOLS/logs/$tool.log" | sed 's/^/    /' >&2
    printf '%s %s %s FAILED wall=%ss jobs=%s\n' "$(date -u +%FT%TZ)" "$tool" "$want" "$secs" "$JOBS" >>"$TOOLS/build-times.txt"
    echo "failed $want ${secs}s" >"$TOOLS/.results/$tool"
  fi
}

if [ -n "$ONLY" ]; then IFS=, read -r -a SELECTED <<<"$ONLY"; else SELECTED=("${ALL_TOOLS[@]}"); fi
declare -A IS_SELECTED=()
for t in "${SELECTED[@]}"; do
  want_version "$t" >/dev/null || { echo "tools.sh: unknown tool '$t' (see --list)" >&2; exit 2; }
  IS_SELECTED[$t]=1
done

# Jobs: tools that share build work run one after the other in one job (the kube-*
# commands share most packages, the language host needs the CLI's sdk module); jobs run
# in parallel, at most $JOBS at once, longest first.
GROUPS_ALL=("pulumi-resource-kubernetes" "kube-apiserver kube-controller-manager kube-scheduler kubectl"
  "pulumi pulumi-language-python" "kwok" "helm" "etcd" "koord-scheduler"
  "vc-scheduler vc-controller-manager" "kubelet kube-proxy" "coredns" "local-path-provisioner pause"
  "kube-network-policies")
# A membership test in the shell itself: `printf | grep -q` under pipefail skipped a selected
# tool whenever grep's early exit killed printf with SIGPIPE. Whatever stops a job, each of its
# selected tools ends with a result and a reason.
run_group() {
  local t current=""
  trap 'rc=$?; if [ -n "$current" ] && [ ! -f "$TOOLS/.results/$current" ]; then
    echo "failed (tools.sh stopped with exit $rc before a result; see $TOOLS/logs/$current.log)" >"$TOOLS/.results/$current"; fi' EXIT
  for t in $1; do
    if [ -n "${IS_SELECTED[$t]:-}" ]; then current=$t; run_tool "$t"; fi
  done
  current=""
}
T0=$(date +%s)
for g in "${GROUPS_ALL[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run_group "$g" &
done
wait || true

FAILED=()
{
  for t in "${SELECTED[@]}"; do
    r=$(cat "$TOOLS/.results/$t" 2>/dev/null || echo "failed (no job ran it: not in any build group of tools.sh)")
    printf '%-28s %s\n' "$t" "$r"
    case "$r" in ok*) ;; *) FAILED+=("$t") ;; esac
  done
} >"$TOOLS/status.txt"
cat "$TOOLS/status.txt" >&2
log "done in $(( $(date +%s) - T0 ))s (jobs=$JOBS); tools in $BIN"
if [ "${#FAILED[@]}" -gt 0 ]; then
  log "FAILED: ${FAILED[*]}"
  exit 1
fi
