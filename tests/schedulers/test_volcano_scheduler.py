"""Volcano's scheduler and controller manager (1.14.1, built from Go modules; the chart users get is
1.15.1, which the module proxy does not serve) placing the kit's task pods by the kit's queues.

Cluster: 3 kwok nodes of 8 cpu (24 in all). Queues (cpu), from the same team tree as the
Koordinator tier: data deserved 12 capability 20 {etl 6/16, analytics 6/16}, research 8/12.
The scheduler reads `volcano-scheduler.conf` as the real chart renders it from the kit's values
(`custom.scheduler_config_override`): the capacity plugin with `enableHierarchy`.
"""

from __future__ import annotations

import time

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.scheduling import volcano
from airflow_kit_platform.settings import load_settings
from repo_tools.schedulers import configmap_data, deployment_flags, helm_render, volcano_commands
from tests.support.measurements import MEASURED
from tests.support.schedulers import CONTENDED_TEAMS, priority_order_probe
from tests.support.toolchain import require_tools

NAMESPACE = "airflow-volcano"
CONFIG = {
    "namespace": NAMESPACE,
    "airflow": {"chart": {"install": False}, "executors": ["CeleryExecutor", "KubernetesExecutor"]},
    "scheduler": {"backend": "volcano", "install": False, "loadAware": {"enabled": False}},
    "teams": CONTENDED_TEAMS,
}


def kit_scheduler_conf(tmp_path) -> tuple[str, list[str], list[str]]:
    """The kit's `volcano-scheduler.conf` and the controller's and scheduler's tuning flags, as
    the real chart renders them from the kit's values."""
    installed = load_settings("volcano-real", {**CONFIG, "scheduler": {**CONFIG["scheduler"], "install": True}})
    spec = volcano.chart_spec(installed)
    objects = helm_render(f"volcano-{versions.VOLCANO_CHART_VERSION}.tgz", spec.release, spec.namespace,
                          dict(spec.values), tmp_path)
    text = configmap_data(objects, "volcano-scheduler-configmap", "volcano-scheduler.conf")
    capacity = [p for tier in yaml.safe_load(text)["tiers"] for p in tier["plugins"] if p["name"] == "capacity"]
    assert capacity == [{"name": "capacity", "enableHierarchy": True}], text
    path = tmp_path / "volcano-scheduler.conf"
    path.write_text(text)
    return (str(path), deployment_flags(objects, f"{spec.release}-controllers"),
            deployment_flags(objects, f"{spec.release}-scheduler"))


@pytest.fixture(scope="module")
def vc(scheduler_cluster_factory, tmp_path_factory):
    require_tools("vc-scheduler", "vc-controller-manager")
    sched = scheduler_cluster_factory("volcano-real", CONFIG, ["volcano"])
    MEASURED["schedulers: pulumi up of the volcano stack"] = f"{sched.up_seconds:.1f} s"
    conf, controller_flags, scheduler_flags = kit_scheduler_conf(tmp_path_factory.mktemp("volcano-config"))
    kubeconfig = sched.cluster.kubeconfig
    started = time.perf_counter()
    for name, args in volcano_commands(kubeconfig, conf, controller_flags, scheduler_flags):
        sched.start(name, args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # ready when it has made its root queue
        if "root" in sched.cluster.kubectl("get", "queues.scheduling.volcano.sh", "-o", "name", check=False).stdout:
            break
        for scheduler in sched.schedulers:
            assert scheduler.alive(), scheduler.tail()
        time.sleep(0.5)
    MEASURED["schedulers: vc-scheduler and vc-controller-manager ready"] = f"{time.perf_counter() - started:.1f} s"
    return sched


def test_each_queue_is_held_to_its_capability(vc):
    vc.submit("etl", 20)
    counts = vc.settle(lambda c: c.get("etl", {}).get("bound") == 16)
    assert counts["etl"] == {"bound": 16, "pending": 4}
    assert vc.peak("etl") <= 16
    MEASURED["vc-scheduler: etl (capability 16) given 20 pods"] = f"{counts['etl']}"


def test_a_parent_capability_bounds_its_subtree(vc):
    # Before the fix (enabledHierarchy, ignored) the parent exceeded its capability: 26 under 20.
    vc.submit("analytics", 10)
    counts = vc.settle(lambda c: c.get("analytics", {}).get("bound", 0) + c["etl"]["bound"] == 20, timeout=120)
    assert vc.peak("etl", "analytics") <= 20 and vc.peak("etl") <= 16
    # Volcano 1.14's reclaim skips podgroups the enqueue action did not admit, and nothing is
    # admitted into a parent at its capability: analytics keeps what was free (4), below its
    # deserved 6, until etl's tasks end. Koordinator shares the parent by weight instead.
    MEASURED["vc-scheduler: data (capability 20) subtree"] = (
        f"etl {counts['etl']}, analytics {counts['analytics']}; highest subtree at any sample "
        f"{vc.peak('etl', 'analytics')} of 20 ({len(vc.samples)} samples)")


def test_borrowed_capacity_is_given_back_to_a_queue_below_its_deserved(vc):
    started = time.monotonic()
    vc.submit("research", 8)
    counts = vc.settle(lambda c: c.get("research", {}).get("bound", 0) >= 4, timeout=60)
    assert vc.peak("research") <= 12 and vc.peak("etl", "analytics") <= 20
    assert sum(team["bound"] for team in counts.values()) <= 24
    try:
        counts = vc.settle(lambda c: c.get("research", {}).get("bound") == 8, timeout=60)
    except AssertionError:
        MEASURED["vc-scheduler: research (deserved 8) after 60 s"] = f"{vc.counts()}: no reclaim"
        pytest.xfail("Volcano 1.14.1 did not reclaim for a queue below its deserved share within 60 s: with "
                     "hierarchy the capacity plugin enqueues a podgroup only if it fits every ancestor up to root "
                     "(capability = the whole cluster, here full), and the reclaim action skips podgroups that are "
                     "not enqueued; borrowed capacity comes back only as the borrowing tasks finish")
    MEASURED["vc-scheduler: research back to its deserved 8"] = f"{time.monotonic() - started:.1f} s; {counts}"


def test_priorities_order_the_queue(vc):
    # Volcano orders queues by their share and uses priority inside a queue: in research's queue,
    # tasks at batch priority wait first, tasks at the team's prod priority come later.
    result = priority_order_probe(vc, f"{NAMESPACE}-prod",
                                  early=("research", {"priorityClassName": f"{NAMESPACE}-batch"}),
                                  late=("research", {}))
    assert result["before"] == {"early": 0, "late": 0}
    assert result["after"] == {"early": 0, "late": 4}, result
    MEASURED["vc-scheduler: 4 cpu freed in a full cluster, one queue"] = (
        f"prod tasks (waiting since later) {result['after']['late']}, batch tasks (first) {result['after']['early']}")
