"""Post-deploy checks of a real cluster after `pulumi up` (testinfra's kubectl:// backend).

Run after deploying a stack: `AIRFLOW_KIT_STACK=local make test` (or `pytest tests/infra`).
The stack defaults to `local`; KUBECONFIG / the current context choose the cluster. Every
check skips with the reason when no cluster is reachable or the stack is not deployed there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from airflow_kit_platform.model.names import cluster_name
from airflow_kit_platform.settings import load_settings
from tests.support.stacks import stack_file_config

testinfra = pytest.importorskip("testinfra")

STACK = os.environ.get("AIRFLOW_KIT_STACK", "local")


def kubectl(*args: str, timeout: int = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def settings():
    return load_settings(STACK, stack_file_config(STACK), frozenset({"dbPassword"}))


@pytest.fixture(scope="module")
def cluster(settings):
    if os.environ.get("AIRFLOW_KIT_E2E_KUBECONFIG"):
        pytest.skip("the e2e tier's throwaway API server is not a deployed cluster")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    try:
        reachable = kubectl("version", "--request-timeout=5s", timeout=15)
    except subprocess.TimeoutExpired:
        pytest.skip("no Kubernetes cluster answered within 15 s")
    if reachable.returncode != 0 or "Server Version" not in reachable.stdout:
        pytest.skip(f"no Kubernetes cluster reachable with the current kubeconfig: {reachable.stderr.strip()[:200]}")
    pods = kubectl("get", "pods", "-n", settings.namespace, "-l", "component=scheduler", "-o", "name")
    if pods.returncode != 0 or not pods.stdout.strip():
        pytest.skip(f"stack {STACK!r} is not deployed: no Airflow scheduler pod in namespace {settings.namespace!r}")
    return pods.stdout.split()[0].split("/", 1)[1]


@pytest.fixture(scope="module")
def scheduler_host(settings, cluster):
    return testinfra.get_host(f"kubectl://{cluster}?container=scheduler&namespace={settings.namespace}")


def test_airflow_version_is_the_pinned_one(scheduler_host):
    from airflow_kit_platform import versions

    assert scheduler_host.check_output("airflow version").strip() == versions.AIRFLOW_VERSION


def test_executor_list_is_live(scheduler_host, settings):
    assert scheduler_host.check_output("airflow config get-value core executor").strip() == settings.airflow.executor


def test_team_pod_templates_are_mounted(scheduler_host, settings):
    from airflow_kit_platform.workloads.pod_templates import POD_TEMPLATES_DIR

    catalog = json.loads(scheduler_host.file(f"{POD_TEMPLATES_DIR}/teams.json").content_string)
    assert sorted(catalog["teams"]) == sorted(team.name for team in settings.teams.leaves())
    for team in settings.teams.leaves():
        assert scheduler_host.file(f"{POD_TEMPLATES_DIR}/{team.name}.yaml").exists


def test_pools_were_imported(scheduler_host, settings):
    pools = json.loads(scheduler_host.check_output("airflow pools list -o json"))
    live = {pool["pool"]: int(pool["slots"]) for pool in pools}
    for pool in settings.all_pools():
        assert live.get(pool.name) == pool.slots, f"pool {pool.name}"


def test_queues_or_quotas_exist(settings, cluster):
    backend = settings.scheduler.backend
    if backend == "koordinator":
        listing = kubectl("get", "elasticquotas.scheduling.sigs.k8s.io", "-n", settings.namespace, "-o", "name")
    elif backend == "volcano":
        listing = kubectl("get", "queues.scheduling.volcano.sh", "-o", "name")
    else:
        listing = kubectl("get", "resourcequota", "-n", settings.namespace, "-o", "name")
    assert listing.returncode == 0, listing.stderr
    names = {line.split("/", 1)[1] for line in listing.stdout.split()}
    if backend == "default":
        assert names
    else:
        assert {cluster_name(settings.namespace, team.name) for team in settings.teams} <= names
