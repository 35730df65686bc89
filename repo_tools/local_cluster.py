"""Which cluster `make up` deploys to: the kubeconfig's current context when it answers, else the
kit's own local node (scripts/real-node.sh: one real node on this machine, images built here).

Every problem is one line naming what is missing and the command that fixes it.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

from airflow_kit_platform.preflight import reach_error
from repo_tools.harness import REPO, TOOLS, tool  # noqa: F401  (tool: part of this module's interface)

TOOLS_BIN = TOOLS / "bin"
NODE_DIR = REPO / ".local-node"
NODE_STACK = "local-node"   # the `local` shape with images built on this machine
CLUSTER_STACK = "local"     # a cluster of your own (kind, k3d, minikube, any kubeconfig context)

# What the kit's node is made of: Debian packages (scripts/node-packages.sh) and tools built from
# Go modules (scripts/tools.sh), besides root.
NODE_PACKAGES = {"containerd": "containerd", "runc": "runc", "buildah": "buildah", "mmdebstrap": "mmdebstrap",
                 "iptables": "iptables", "/usr/lib/cni/bridge": "containernetworking-plugins"}
TOOL_SETS_TABLE = REPO / "scripts" / "toolsets.txt"


def tool_set(name: str) -> tuple[str, ...]:
    """The tools of one set in the one table `make setup`, tools.sh and the node scripts read."""
    for line in TOOL_SETS_TABLE.read_text().splitlines():
        key, _, tools = line.partition(":")
        if key.strip() == name and not line.startswith("#"):
            return tuple(tools.split())
    raise KeyError(f"no tool set '{name}' in {TOOL_SETS_TABLE}")


PULUMI_TOOLS = tool_set("pulumi")
NODE_TOOLS = tool_set("node")


class SetupError(Exception):
    """Something `make up` needs is missing: one line with the fix."""


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    context: Optional[str]
    server: str
    kit_node: bool

    def describe(self) -> str:
        if self.kit_node:
            return f"the kit's local node ({_relative(NODE_DIR)}, API server {self.server})"
        return f"kube context '{self.context}' ({self.server})"


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def node_kubeconfig() -> pathlib.Path:
    return NODE_DIR / "cluster" / "kubeconfig"


def current_context(kubeconfig: Optional[str] = None) -> Optional[tuple[str, str, str]]:
    """(kubeconfig path, context name, server) of the current context; None without one."""
    from kubernetes import config

    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser("~/.kube/config")
    if not os.path.exists(path):
        return None
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except Exception:  # an empty or broken file is "no context"; kubectl would say the same
        return None
    if not active:
        return None
    return path, active["name"], _server_of(path, active)


def _server_of(path: str, context: dict) -> str:
    import yaml

    document = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    name = (context.get("context") or {}).get("cluster")
    for cluster in document.get("clusters") or []:
        if cluster.get("name") == name:
            return (cluster.get("cluster") or {}).get("server", "?")
    return "?"


def node_running() -> bool:
    if not node_kubeconfig().exists():
        return False
    result = subprocess.run([str(REPO / "scripts" / "real-node.sh"), "status", str(NODE_DIR)],
                            capture_output=True, text=True, env=tools_env())
    return result.returncode == 0


def node_missing() -> list[str]:
    """What the kit's node needs and this machine lacks, each with its fix."""
    missing = []
    if platform.system() != "Linux":
        return [f"Linux (this is {platform.system()}): use a cluster of your own (kind, k3d, minikube)"]
    if os.geteuid() != 0:
        missing.append("root (containerd, kubelet, the bridge and iptables need it): `sudo make setup && sudo make up`")
    packages = sorted({package for binary, package in NODE_PACKAGES.items()
                       if not (os.path.exists(binary) if binary.startswith("/") else shutil.which(binary))})
    if packages:
        missing.append(f"Debian packages {', '.join(packages)}: `make setup` (scripts/node-packages.sh)")
    tools = [name for name in NODE_TOOLS if tool(name) is None]
    if tools:
        missing.append(f"{', '.join(tools)}: `make setup` (scripts/tools.sh builds them from Go modules)")
    return missing


def pulumi_missing() -> Optional[str]:
    """The Pulumi CLI, its Python language host and the Kubernetes provider plugin."""
    pulumi = tool("pulumi")
    if pulumi is None:
        return ("the Pulumi CLI is not installed: `make setup` builds it into .tools/bin "
                "(or install it: https://www.pulumi.com/docs/install/)")
    folder = pathlib.Path(pulumi).resolve().parent
    if not ((folder / "pulumi-language-python").exists() or tool("pulumi-language-python")):
        return f"the Pulumi Python language host is missing beside {pulumi}: `make setup`"
    if tool("pulumi-resource-kubernetes"):
        return None
    listed = subprocess.run([pulumi, "plugin", "ls", "--json"], capture_output=True, text=True, env=tools_env())
    if listed.returncode == 0 and any(plugin.get("name") == "kubernetes" and plugin.get("kind") == "resource"
                                      for plugin in json.loads(listed.stdout or "[]")):
        return None
    return ("the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) is not installed: `make setup` "
            "builds it into .tools/bin (or `pulumi plugin install resource kubernetes` where get.pulumi.com is reachable)")


def provider_plugin_version(plugin: str, timeout: float = 30) -> str:
    """The version a provider plugin reports to the engine (its gRPC GetPluginInfo)."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import provider_pb2_grpc

    # A provider takes the engine's address as its argument and dials it lazily: an unused
    # loopback port serves for a question the engine is not part of.
    process = subprocess.Popen([plugin, "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise SetupError(f"{plugin} did not start (it printed {port!r} instead of its port)")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            return stub.GetPluginInfo(empty_pb2.Empty(), timeout=timeout).version
    finally:
        process.kill()
        process.wait()


def provider_mismatch() -> Optional[str]:
    """Why the Kubernetes provider plugin does not serve the installed pulumi-kubernetes SDK, or None.

    The SDK asks for a plugin at least as new as itself; an older one makes the engine warn on every
    `pulumi up`. The SDK's wish is in the package's pulumi-plugin.json."""
    from importlib import resources

    from packaging.version import Version

    plugin = tool("pulumi-resource-kubernetes")
    if plugin is None:
        return pulumi_missing()
    wanted = json.loads(resources.files("pulumi_kubernetes").joinpath("pulumi-plugin.json").read_text())["version"]
    reported = provider_plugin_version(plugin)
    if Version(reported) < Version(wanted):
        return (f"the Kubernetes provider plugin {plugin} reports {reported}, older than the pulumi-kubernetes "
                f"SDK {wanted} it must serve: pin the SDK at or below the plugin (components/versions.py, "
                "requirements.txt) or build a newer plugin (scripts/build-versions.sh)")
    return None


def tools_env() -> dict[str, str]:
    """The environment with the kit's tools (.tools/bin) first on PATH."""
    env = dict(os.environ)
    if TOOLS_BIN.exists():
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def choose(cluster: str = "auto") -> Optional[Cluster]:
    """The cluster to deploy to; None: start the kit's node (`cluster` is auto, kit or current).

    auto: the kit's node when it runs already (a second `make up`), else the current kube context
    when there is one (it must answer: a context that does not is an error, not a silent switch),
    else the kit's node.
    """
    if cluster not in ("auto", "kit", "current"):
        raise SetupError(f"CLUSTER={cluster}: allowed: auto (default), kit (the kit's local node), current "
                         "(the kubeconfig's current context)")
    if cluster in ("auto", "kit") and node_running():
        return Cluster(str(node_kubeconfig()), None, _server_of_node(), kit_node=True)
    if cluster == "kit":
        return None
    found = current_context()
    if found is None:
        if cluster == "current":
            raise SetupError("no kube context: KUBECONFIG and ~/.kube/config name no current context; "
                             "`kubectl config use-context NAME`, or `make up` (CLUSTER=auto) to run on the kit's local node")
        return None
    path, context, server = found
    problem = reach_error(path, context)
    if problem:
        raise SetupError(f"kube context '{context}' ({server}, from {path}) is not reachable: {problem}; "
                         "fix or switch it (`kubectl config use-context NAME`), or `make up CLUSTER=kit` "
                         "to run on the kit's local node")
    return Cluster(path, context, server, kit_node=False)


def _server_of_node() -> str:
    found = current_context(str(node_kubeconfig()))
    return found[2] if found else "?"


def start_node(stack: str) -> Cluster:
    """scripts/real-node.sh start (images built or loaded from the cache); its output streams."""
    missing = node_missing()
    if missing:
        raise SetupError("no cluster is reachable and the kit's local node cannot start here; it needs "
                         + "; ".join(missing))
    result = subprocess.run([str(REPO / "scripts" / "real-node.sh"), "start", str(NODE_DIR), "--stack", stack],
                            env=tools_env())
    if result.returncode != 0:
        raise SetupError(f"the kit's local node did not start (logs: {_relative(NODE_DIR / 'logs')}); "
                         f"`make down` cleans up, then `make up` again")
    return Cluster(str(node_kubeconfig()), None, _server_of_node(), kit_node=True)


def stop_node() -> bool:
    """Stop the node and undo its host changes; its folder (etcd, volumes) is removed."""
    if not NODE_DIR.exists():
        return False
    subprocess.run([str(REPO / "scripts" / "real-node.sh"), "stop", str(NODE_DIR)], env=tools_env(), check=False)
    shutil.rmtree(NODE_DIR, ignore_errors=True)
    return True


def needs_node() -> bool:
    """`make setup` prepares the kit's node unless the current kube context answers."""
    try:
        cluster = choose("auto")
    except SetupError:  # a context that does not answer: `make up CLUSTER=kit` will need the node
        return True
    return cluster is None or cluster.kit_node


if __name__ == "__main__":
    # `needs-node`: exit 0 when `make setup` must prepare the kit's node;
    # `check-provider`: exit 1 with one line when the provider plugin is older than the SDK.
    import sys

    if sys.argv[1:] == ["check-provider"]:
        problem = provider_mismatch()
        if problem:
            sys.exit(f"setup: {problem}")
        sys.exit(0)
    sys.exit(0 if sys.argv[1:] == ["needs-node"] and needs_node() else 1)
