"""Volcano's flat queues (`scheduler.queueMode: flat`, the default for a tree whose parents' max
hold their teams' max added up): one queue per leaf team under the capacity plugin, where a
team below its min (`deserved`) gets lent capacity back by reclaim, not only as the borrowing tasks end.

Cluster: 3 kwok nodes of 8 cpu (24). The contended tree with a roomy parent: data 12/32 cpu (160Gi)
{etl 6/16 (weight 2), analytics 6/16}, research 8/12; the real vc-scheduler 1.14.1 and
vc-controller-manager with the configuration the real chart renders from the kit's values.
"""

from __future__ import annotations

import time

import pytest

from tests.support.measurements import MEASURED
from tests.support.schedulers import CONTENDED_TEAMS, queue_plugins, start_volcano, volcano_stack

NAMESPACE = "airflow-volcano-flat"
ROOMY_TEAMS = [dict(team, max={"cpu": "32", "memory": "160Gi"}) if team["name"] == "data" else team
               for team in CONTENDED_TEAMS]
CONFIG = volcano_stack(NAMESPACE, ROOMY_TEAMS)


@pytest.fixture(scope="module")
def vc(scheduler_cluster_factory, tmp_path_factory):
    sched, conf = start_volcano(scheduler_cluster_factory, tmp_path_factory, "volcano-flat", CONFIG)
    assert queue_plugins(conf) == [{"name": "capacity"}], conf
    return sched


def test_only_leaf_teams_get_queues(vc):
    queues = {item["metadata"]["name"] for item in vc.get("queues.scheduling.volcano.sh")["items"]}
    assert {f"{NAMESPACE}-{name}" for name in ("etl", "analytics", "research")} <= queues
    assert f"{NAMESPACE}-data" not in queues


def test_borrowed_capacity_is_reclaimed_for_a_team_below_its_min(vc):
    # etl and analytics fill the cluster, each held to its max (16); research is idle.
    vc.submit("etl", 20)
    vc.submit("analytics", 20)
    counts = vc.settle(lambda c: c.get("etl", {}).get("bound", 0) + c.get("analytics", {}).get("bound", 0) == 24,
                       timeout=120)
    assert vc.peak("etl") <= 16 and vc.peak("analytics") <= 16
    # research comes back for its min (8): the scheduler evicts borrowed pods for it.
    started = time.monotonic()
    vc.submit("research", 8)
    counts = vc.settle(lambda c: c.get("research", {}).get("bound") == 8, timeout=120)
    seconds = time.monotonic() - started
    MEASURED["vc-scheduler (flat queues): research back to its min 8 in a full cluster"] = \
        f"{seconds:.1f} s; {counts}"
    assert vc.peak("research") <= 12
    assert sum(team["bound"] for team in counts.values()) <= 24
