"""The acceptance tier: the kit's main job on ONE REAL node (scripts/real-node.sh).

containerd runs real containers, kubelet/kube-proxy/CoreDNS make Services and DNS work, and
every image is built here (scripts/images.sh). `pulumi up` of the `local-node` stack installs the
REAL Airflow chart (../shared/reference/charts), then the tests drive Airflow through its REST
API as a user would. Skips, naming what is missing, without root, the node's packages, the
toolchain or the packaged chart.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time

import pytest

from components.settings import SECRET_KEYS
from tests.conftest import REPO, stack_file_config
from tests.contract.test_airflow_chart_render import airflow_chart_package
from tests.e2e.conftest import TOOLS, LocalCluster, PulumiProject, run, tools_env  # noqa: F401  (fixture)
from tests.measurements import MEASURED

STACK = "local-node"
NODE_TOOLS = ("kubelet", "kube-proxy", "coredns", "local-path-provisioner", "pause", "etcd", "kube-apiserver",
              "kube-controller-manager", "kube-scheduler", "kubectl", "pulumi", "pulumi-language-python",
              "pulumi-resource-kubernetes")
NODE_PACKAGES = {"containerd": "containerd", "runc": "runc", "buildah": "buildah", "mmdebstrap": "mmdebstrap",
                 "iptables": "iptables", "/usr/lib/cni/bridge": "containernetworking-plugins"}


def _missing() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containerd, kubelet, the bridge and iptables need it)")
    for binary, package in NODE_PACKAGES.items():
        if not (os.path.exists(binary) if binary.startswith("/") else shutil.which(binary)):
            missing.append(f"{binary} (package {package}: scripts/node-packages.sh)")
    for tool in NODE_TOOLS:
        if not (TOOLS / "bin" / tool).exists():
            missing.append(f"{tool} (scripts/tools.sh --only {tool})")
    return missing


class RealNode(LocalCluster):
    """scripts/real-node.sh in `directory`; kubectl and logs as for the local control plane."""

    @property
    def kubeconfig(self) -> str:
        return str(self.directory / "cluster" / "kubeconfig")

    def script(self, *args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(REPO / "scripts" / "real-node.sh"), *args], self.env, timeout=timeout, check=check)

    def start(self) -> None:
        started = time.perf_counter()
        # Cold: the images are built here first (scripts/images.sh, ~5 min); warm: loaded in seconds.
        self.script("start", str(self.directory), "--stack", STACK, timeout=3600)
        self.start_seconds = time.perf_counter() - started

    def stop(self) -> str:
        return self.script("stop", str(self.directory), timeout=300, check=False).stderr


@pytest.fixture(scope="session")
def real_node(tools_env, tmp_path_factory, request):
    missing = _missing()
    if missing:
        pytest.skip("a real node needs: " + "; ".join(missing))
    airflow_chart_package()
    node = RealNode(tmp_path_factory.mktemp("real-node"), tools_env)
    try:
        node.start()
    except Exception:
        print(node.logs())
        print(node.stop())
        raise
    MEASURED["real node: start (control plane, containerd, images, kubelet Ready)"] = f"{node.start_seconds:.0f} s"
    yield node
    if request.session.testsfailed:
        print(node.logs())
    started = time.perf_counter()
    stop_log = node.stop()
    MEASURED["real node: stop and host cleanup"] = f"{time.perf_counter() - started:.0f} s"
    assert "ERROR" not in stop_log, stop_log


def generated_secrets() -> dict[str, str]:
    """Every secret of the stack given through config, as `pulumi config set --secret` would."""
    values = {key: secrets.token_urlsafe(24) for key in SECRET_KEYS}
    values["fernetKey"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return values


@pytest.fixture(scope="module")
def platform(real_node, tools_env, tmp_path_factory):
    """The local-node stack with the real chart, after `pulumi up` (measured)."""
    config = stack_file_config(STACK)
    config["airflow"] = {**config["airflow"], "chart": {"path": str(airflow_chart_package())}}
    project = PulumiProject(tmp_path_factory.mktemp("project"), tools_env, real_node.kubeconfig, STACK, config)
    project.init(generated_secrets())
    started = time.perf_counter()
    project.up_result = project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=1800)
    project.up_seconds = time.perf_counter() - started
    yield project
    if not getattr(project, "destroyed", False):
        project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=900)
