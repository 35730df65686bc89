"""The kit's real node (scripts/real-node.sh) as the real-node tiers share it: one node per test
session, started by the first tier that needs it (realnode, faults) and stopped at the end, and
one `local-node` stack on it that the main job's tests and then the fault scenarios use."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
from typing import Optional

import pytest

from repo_tools import local_cluster
from repo_tools.harness import TOOLS, LocalCluster, PulumiProject, run
from tests.support.charts import airflow_chart_package
from tests.support.measurements import MEASURED
from tests.support.stacks import REPO, stack_file_config

STACK = local_cluster.NODE_STACK
NAMESPACE = stack_file_config(STACK)["namespace"]


def missing() -> list[str]:
    """What `make up` would say the kit's node lacks, plus the Pulumi tools and a free host."""
    lacking = local_cluster.node_missing()
    lacking += [f"{tool} (scripts/tools.sh --only {tool})" for tool in local_cluster.PULUMI_TOOLS
                if not (TOOLS / "bin" / tool).exists()]
    if pathlib.Path("/sys/class/net/cni0").exists():
        lacking.append("a free host: a node already runs here (bridge cni0; the kit's `make up` node: `make down`)")
    return lacking


class RealNode(LocalCluster):
    """scripts/real-node.sh in `directory`; kubectl and logs as for the local control plane."""

    @property
    def kubeconfig(self) -> str:
        return str(self.directory / "cluster" / "kubeconfig")

    @property
    def containerd_socket(self) -> str:
        return str(self.directory / "containerd" / "containerd.sock")

    def script(self, *args: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(REPO / "scripts" / "real-node.sh"), *args], self.env, timeout=timeout, check=check)

    def start(self) -> None:
        started = time.perf_counter()
        # Cold: the images are built here first (scripts/images.sh, ~5 min); warm: loaded in seconds.
        self.script("start", str(self.directory), "--stack", STACK, timeout=3600)
        self.start_seconds = time.perf_counter() - started

    def reboot(self) -> None:
        self.script("reboot", str(self.directory), timeout=600)

    def pod_host(self, namespace: str, selector: str, container: str):
        """testinfra's kubectl:// host for the first pod matching `selector` (in-pod checks)."""
        import testinfra

        pod = self.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o",
                           "jsonpath={.items[0].metadata.name}").stdout.strip()
        assert pod, f"no pod with {selector} in {namespace}"
        return testinfra.get_host(f"kubectl://{pod}?container={container}&namespace={namespace}"
                                  f"&kubeconfig={self.kubeconfig}")

    def pods(self, namespace: str, selector: str) -> list[dict]:
        return json.loads(self.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout)["items"]

    def container_pids(self, container_id: str) -> list[int]:
        """Host PIDs of a container's processes (containerd's view), lowest first."""
        listed = run(["ctr", "--address", self.containerd_socket, "-n", "k8s.io", "tasks", "ps", container_id],
                     self.env, timeout=30).stdout.splitlines()[1:]
        return sorted(int(line.split()[0]) for line in listed if line.strip())

    def stop(self) -> str:
        return self.script("stop", str(self.directory), timeout=300, check=False).stderr


def stack_config(namespace: Optional[str] = None, **changes) -> dict:
    """The local-node stack's config with the packaged chart (and `changes`), for a tier's own stack."""
    config = stack_file_config(STACK)
    config["airflow"] = {**config["airflow"], "chart": {"path": str(airflow_chart_package())}}
    if namespace:
        config["namespace"] = namespace
    config.update(changes)
    return config


def deploy(node: RealNode, env: dict, directory: pathlib.Path, stack: str, config: dict) -> PulumiProject:
    """A stack of the kit on the node after `pulumi up` (every secret generated; `up_seconds` kept)."""
    project = PulumiProject(directory, env, node.kubeconfig, stack, config)
    project.init({})
    started = time.perf_counter()
    project.up_result = project.pulumi("up", "--yes", "--skip-preview", "--stack", stack, timeout=1800)
    project.up_seconds = time.perf_counter() - started
    return project


@pytest.fixture(scope="session")
def real_node(tools_env, tmp_path_factory, request):
    lacking = missing()
    if lacking:
        pytest.skip("a real node needs: " + "; ".join(lacking))
    airflow_chart_package()
    node = RealNode(tmp_path_factory.mktemp("real-node"), tools_env)
    try:
        node.start()
    except Exception:
        print(node.logs())
        print(node.stop())
        raise
    MEASURED["real node: start (control plane, containerd, images, kubelet Ready)"] = (
        f"{node.start_seconds:.0f} s (lane {os.environ.get('PYTEST_XDIST_WORKER', 'main')}, nice {os.nice(0)})")
    yield node
    if request.session.testsfailed:
        print(node.logs())
    started = time.perf_counter()
    stop_log = node.stop()
    MEASURED["real node: stop and host cleanup"] = f"{time.perf_counter() - started:.0f} s"
    assert "ERROR" not in stop_log, stop_log


@pytest.fixture(scope="session")
def kit_stack(real_node, tools_env, tmp_path_factory):
    """The `local-node` stack with the real chart, after `pulumi up` (measured): the main job's
    tests use it first, the fault scenarios next (they break it and must see it recover), and
    tests/realnode/test_destroy.py destroys it last. One deploy, not one per tier: the node's
    2 cpu hold one stack at a time, and each deploy costs minutes of the real-node lane."""
    project = deploy(real_node, tools_env, tmp_path_factory.mktemp("kit-stack"), STACK, stack_config())
    yield project
    if not getattr(project, "destroyed", False):  # a run without the destroy test
        project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=900)
