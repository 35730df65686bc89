"""The real batch schedulers reading the configuration the kit produces.

For each backend: a throwaway control plane (scripts/local-cluster.sh, no kube controllers)
with kwok nodes sized so the team quotas contend; the kit's objects (namespace, quotas or
queues, priority classes, pod templates) applied by a real `pulumi up`; the scheduler's
configuration rendered from the real chart in ../shared/reference/charts with the kit's
values and the kit's own merge (airflow_kit_platform.scheduling.layer.apply_override, the function the
Pulumi transform runs); and the real scheduler, built by scripts/tools.sh, as a host process
listening on loopback. Task pods are made from the kit's team templates the way the
KubernetesExecutor makes them. Everything skips, naming what is missing, without the tools or
the reference folder.
"""

from __future__ import annotations

import time
from typing import Iterable

import pytest
import yaml

from repo_tools.harness import LocalCluster, PulumiProject
from repo_tools.schedulers import SECRETS, SchedulerCluster, dra_stub_crds, kwok_node
from tests.support.reference import reference_dir
from tests.support.toolchain import require_tools


@pytest.fixture(scope="module")
def scheduler_cluster_factory(tools_env, tmp_path_factory, request):
    """Start a cluster with `nodes` kwok nodes, apply CRDs, `pulumi up` the kit's stack."""
    require_tools("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver",
                  "kwok", "kubectl")
    made: list[SchedulerCluster] = []

    def make(stack: str, config: dict, crd_folders: Iterable[str], extra_objects: Iterable[dict] = (),
             nodes: int = 3) -> SchedulerCluster:
        crd_root = reference_dir() / "crds"
        directory = tmp_path_factory.mktemp(f"{stack}-cluster")
        cluster = LocalCluster(directory, tools_env)
        try:
            cluster.start("--nodes", "0", "--no-controllers")
        except Exception:
            print(cluster.logs())
            cluster.stop()
            raise
        project = PulumiProject(tmp_path_factory.mktemp(f"{stack}-project"), tools_env, cluster.kubeconfig,
                                stack, config)
        sched = SchedulerCluster(cluster, project, config["namespace"])
        made.append(sched)
        crds = [*dra_stub_crds()]
        for folder in crd_folders:
            for path in sorted((crd_root / folder).glob("*.yaml")):
                crds.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
        sched.apply(crds, server_side=True)
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        sched.apply([kwok_node(f"node-{index}") for index in range(nodes)])
        cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
        sched.apply(list(extra_objects))
        project.init(SECRETS)
        started = time.perf_counter()
        project.up()
        sched.up_seconds = time.perf_counter() - started
        return sched

    yield make
    for sched in made:
        sched.stop()
        if request.session.testsfailed:
            print(sched.cluster.logs())
        sched.cluster.stop()
