"""koord-scheduler 1.8.0 (built from its Go module) placing the kit's task pods by the kit's quotas.

Cluster: 3 kwok nodes of 8 cpu (24 in all). Tree (cpu; memory is never the limit):
  data      min 12 max 20  {etl min 6 max 16 weight 2, analytics min 6 max 16 weight 1}
  research  min 8  max 12
Every task pod requests 1 cpu (the teams' taskResources), made from the kit's team template.
"""

from __future__ import annotations

import datetime
import json
import time

import pytest

from tests.support.measurements import MEASURED
from tests.support.schedulers import CONTENDED_TEAMS, priority_order_probe, start_koord_cluster

NAMESPACE = "airflow-koord"
CONFIG = {
    "namespace": NAMESPACE,
    "airflow": {"chart": {"install": False}, "executors": ["CeleryExecutor", "KubernetesExecutor"]},
    "scheduler": {"backend": "koordinator", "install": False, "reclaimDelay": "5s",
                  "loadAware": {"cpuThresholdPercent": 65, "memoryThresholdPercent": 80}},
    "teams": CONTENDED_TEAMS,
}


@pytest.fixture(scope="module")
def koord(scheduler_cluster_factory, tmp_path_factory):
    return start_koord_cluster(scheduler_cluster_factory, tmp_path_factory, "koord-real", CONFIG)


def test_each_team_is_held_to_its_max_with_the_schedulers_reason(koord):
    koord.submit("etl", 20)
    counts = koord.settle(lambda c: c.get("etl", {}).get("bound") == 16)
    assert counts["etl"] == {"bound": 16, "pending": 4}
    reasons = koord.pending_reasons("etl")
    assert reasons and all("Insufficient quotas" in reason and f"quotaName: {NAMESPACE}-etl" in reason
                           for reason in reasons), reasons
    MEASURED["koord-scheduler: etl (max 16) given 20 pods"] = f"{counts['etl']}"


def test_a_parent_max_bounds_its_subtree_and_siblings_share_it_by_weight(koord):
    # analytics asks for 10: data (max 20) is split by weight above the mins: etl 6 + 8 x 2/3 = 11.3,
    # analytics 6 + 8 x 1/3 = 8.7. Borrowed etl pods beyond that are preempted (Airflow retries them).
    koord.submit("analytics", 10)
    counts = koord.settle(lambda c: c.get("analytics", {}).get("bound", 0) >= 8 and c["etl"]["bound"] <= 12,
                          timeout=120)
    # Whole pods within fractional runtimes: etl 11 of 11.3, analytics 8 of 8.7.
    assert counts["analytics"]["bound"] == 8 and counts["etl"]["bound"] == 11, counts
    assert counts["etl"]["bound"] + counts["analytics"]["bound"] <= 20
    assert koord.peak("etl") <= 16 and koord.peak("analytics") <= 16 and koord.peak("etl", "analytics") <= 20
    MEASURED["koord-scheduler: data (max 20) shared by weight 2:1"] = (
        f"etl {counts['etl']}, analytics {counts['analytics']}; highest data subtree at any sample "
        f"{koord.peak('etl', 'analytics')} of max 20 ({len(koord.samples)} samples)")


def test_borrowed_capacity_is_given_back_to_a_team_below_its_min(koord):
    # data holds 20 of the 24 cpu; research (min 8) asks for 8: 4 are free, 4 must come back.
    started = time.monotonic()
    koord.submit("research", 8)
    counts = koord.settle(lambda c: c.get("research", {}).get("bound") == 8, timeout=120)
    seconds = time.monotonic() - started
    data = counts["etl"]["bound"] + counts["analytics"]["bound"]
    assert counts["research"]["bound"] == 8 and data <= 16, counts
    assert sum(team["bound"] for team in counts.values()) <= 24
    assert koord.peak("research") <= 12 and koord.peak("etl", "analytics") <= 20
    MEASURED["koord-scheduler: research back to its min 8 (reclaimDelay 5s)"] = (
        f"{seconds:.1f} s; data subtree {data}; {counts}")


def test_no_pod_lands_on_a_node_the_load_aware_plugin_marks_hot(koord):
    koord.delete_pods("airflow-kit/team")
    koord.settle(lambda c: not c, timeout=60, stable=1)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    metrics = []
    for index, cpu in ((0, "7600m"), (1, "500m"), (2, "500m")):  # node-0 at 95 % cpu, above the kit's 65 %
        metrics.append({"apiVersion": "slo.koordinator.sh/v1alpha1", "kind": "NodeMetric",
                        "metadata": {"name": f"node-{index}"}, "spec": {},
                        "status": {"updateTime": now, "nodeMetric": {"nodeUsage": {"resources": {
                            "cpu": cpu, "memory": "4Gi"}}}}})
    koord.apply(metrics)
    for metric in metrics:  # status is a subresource: write it as koordlet does
        koord.cluster.kubectl("patch", "nodemetric", metric["metadata"]["name"], "--subresource=status",
                              "--type=merge", "-p", json.dumps({"status": metric["status"]}))
    time.sleep(2)
    koord.submit("research", 8, prefix="hot")
    koord.settle(lambda c: c.get("research", {}).get("bound") == 8)
    nodes = [pod["spec"]["nodeName"] for pod in koord.pods() if pod["spec"].get("nodeName")]
    assert nodes and "node-0" not in nodes, nodes
    MEASURED["koord-scheduler: load-aware"] = f"8 pods on {sorted(set(nodes))}, none on the hot node-0"


def test_priorities_order_the_queue(koord):
    koord.cluster.kubectl("delete", "nodemetric", "--all")  # every node usable again
    # Inside one team's quota: research tasks at batch priority wait first, its prod tasks come later.
    # Across teams the quota decides, not priority: koord-scheduler sizes the team tree from the
    # capacity left by pods outside it (here the fillers), splits that by the teams' mins, and evicts
    # a team's pods above its share after the reclaim delay (seen: research's prod tasks bound by
    # priority, then one evicted as research went over its 2.6-cpu share of the 4 freed).
    result = priority_order_probe(koord, "koord-prod", early=("research", {"priorityClassName": "koord-batch"}),
                                  late=("research", {}))
    assert result["before"] == {"early": 0, "late": 0}
    # A batch pod that leaves its retry backoff first can be bound first: the prod pod then preempts it.
    assert result["after"] == {"early": 0, "late": 4}, result
    MEASURED["koord-scheduler: 4 cpu freed in a full cluster, one quota"] = (
        f"prod tasks (waiting since later) {result['after']['late']}, batch tasks (first) {result['after']['early']}, "
        f"batch pods bound then preempted {result['preempted']}")


def test_job_pods_from_the_queue_path_count_against_their_teams_quota(koord, tmp_path):
    """The Job QueuedKubernetesJobOperator builds (from the stack's real catalog) and its pods, made
    as the Job controller makes them once the queue unsuspends the Job."""
    pytest.importorskip("airflow.providers.cncf.kubernetes")
    from types import SimpleNamespace
    from unittest import mock

    from kubernetes import client as k8s_client

    from airflow_kit import QueuedKubernetesJobOperator
    from airflow_kit.catalog import load_catalog

    configmap = koord.get("configmap", "airflow-kit-pod-templates", "-n", NAMESPACE)
    for name, text in configmap["data"].items():
        (tmp_path / name).write_text(text)
    operator = QueuedKubernetesJobOperator(task_id="train", team="etl", cmds=["true"], parallelism=1,
                                           in_cluster=False, config_file=koord.cluster.kubeconfig,
                                           catalog=load_catalog(str(tmp_path)))
    context = {"ti": mock.MagicMock(dag_id="kit_dag", task_id="train", try_number=1, map_index=-1),
               "run_id": "manual__2026-12-02", "dag": SimpleNamespace(dag_id="kit_dag")}
    job = k8s_client.ApiClient().sanitize_for_serialization(operator.build_job_request_obj(context))
    assert not job["spec"].get("suspend")  # queue "none" on this stack: the Job runs as soon as it is made
    koord.delete_pods("airflow-kit/team")
    koord.cluster.kubectl("delete", "pods", "-n", NAMESPACE, "-l", "role=filler", "--wait=false")
    koord.settle(lambda c: not c, timeout=60, stable=1)
    pods = []
    for index in range(18):
        template = json.loads(json.dumps(job["spec"]["template"]))
        template["metadata"]["name"] = f"train-job-{index}"
        template["metadata"]["namespace"] = NAMESPACE
        template["spec"]["terminationGracePeriodSeconds"] = 5
        pods.append({"apiVersion": "v1", "kind": "Pod", **template})
    koord.apply(pods)
    counts = koord.settle(lambda c: c.get("etl", {}).get("bound") == 16)
    assert counts["etl"] == {"bound": 16, "pending": 2}
    assert all(f"quotaName: {NAMESPACE}-etl" in reason for reason in koord.pending_reasons("etl"))
    MEASURED["koord-scheduler: Job pods of team etl (max 16)"] = f"{counts['etl']}"
