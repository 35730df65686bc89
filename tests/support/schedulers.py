"""The scheduler tiers' shared cases: the contended team tree, the real koord-scheduler started
over a kit stack, and the priority-order probe (tests/schedulers, and the e2e tier's Airflow
quota wait)."""

from __future__ import annotations

import time

from repo_tools.schedulers import (
    KOORD_PRIORITY_CLASSES,
    NODE_CPU,
    SchedulerCluster,
    koord_scheduler_args,
    koord_scheduler_config,
)
from tests.support.measurements import MEASURED
from tests.support.toolchain import require_tools

TASK = {"cpu": "1", "memory": "2Gi"}
# Both backends' tiers: 3 nodes of 8 cpu (24) under a tree whose mins fit and whose maxes contend.
CONTENDED_TEAMS = [
    {"name": "data", "min": {"cpu": "12", "memory": "48Gi"}, "max": {"cpu": "20", "memory": "80Gi"}},
    {"name": "etl", "parent": "data", "min": {"cpu": "6", "memory": "24Gi"},
     "max": {"cpu": "16", "memory": "80Gi"}, "weight": 2, "priority": "batch", "taskResources": TASK},
    {"name": "analytics", "parent": "data", "min": {"cpu": "6", "memory": "24Gi"},
     "max": {"cpu": "16", "memory": "80Gi"}, "weight": 1, "taskResources": TASK},
    {"name": "research", "min": {"cpu": "8", "memory": "32Gi"}, "max": {"cpu": "12", "memory": "48Gi"},
     "priority": "prod", "taskResources": TASK},
]


def start_koord_cluster(factory, tmp_path_factory, stack: str, config: dict) -> SchedulerCluster:
    """A cluster with the kit's Koordinator stack applied and the real koord-scheduler running."""
    require_tools("koord-scheduler")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "koordinator-system"}}
    sched = factory(stack, config, ["koordinator"], [namespace, *KOORD_PRIORITY_CLASSES])
    MEASURED[f"schedulers: pulumi up of stack {stack}"] = f"{sched.up_seconds:.1f} s"
    path = koord_scheduler_config(config, tmp_path_factory.mktemp(f"{stack}-config"), sched.cluster.kubeconfig)
    kubeconfig = sched.cluster.kubeconfig
    started = time.perf_counter()
    sched.start("koord-scheduler", koord_scheduler_args(path, kubeconfig, verbosity=2))
    # Ready when it has created its own root quota (it does so once its informers synced).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = sched.cluster.kubectl("get", "elasticquota", "-n", "koordinator-system", "-o", "name", check=False)
        if "koordinator-root-quota" in found.stdout:
            break
        assert sched.schedulers[0].alive(), sched.schedulers[0].tail()
        time.sleep(0.5)
    MEASURED[f"schedulers: koord-scheduler ready ({stack})"] = f"{time.perf_counter() - started:.1f} s"
    return sched


def priority_order_probe(sched: SchedulerCluster, filler_priority_class: str, early: tuple[str, dict],
                         late: tuple[str, dict]) -> dict:
    """Which waiting tasks get capacity first when it frees up in a full cluster.

    24 fillers (1 cpu, top priority so nobody preempts them) are put straight on the nodes
    (`nodeName`: outside every scheduler and quota) and fill them. Then 4 `early` tasks and,
    once the scheduler has refused them, 4 `late` ones of higher priority wait for nodes, well
    inside their quotas (`early`/`late`: a team and the pod spec changes). When the scheduler
    has refused the late ones too, four fillers end at once: the scheduler
    should give the 4 cpu to the late, higher-priority tasks. Returns the pods bound per prefix
    and how many early pods were preempted after being bound.
    """
    sched.delete_pods("airflow-kit/team")
    sched.cluster.kubectl("delete", "pods", "-n", sched.namespace, "-l", "role=filler", "--wait=false")
    sched.settle(lambda c: not c, timeout=60, stable=1)
    # Volcano's PodGroups of deleted pods hold their queue reservations until the garbage
    # collector (kube-controller-manager, not run here) removes them: do its work.
    sched.cluster.kubectl("delete", "podgroups.scheduling.volcano.sh", "--all", "-n", sched.namespace, check=False)
    fillers = []
    for index in range(NODE_CPU * 3):
        fillers.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"filler-{index}", "namespace": sched.namespace,
                                     "labels": {"role": "filler"}},
                        "spec": {"nodeName": f"node-{index % 3}", "priorityClassName": filler_priority_class,
                                 "terminationGracePeriodSeconds": 1,
                                 "containers": [{"name": "c", "image": "busybox",
                                                 "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                                                               "limits": {"cpu": "1", "memory": "1Gi"}}}]}})
    sched.apply(fillers)

    def probe_pods(prefix: str) -> list[dict]:
        return [pod for pod in sched.pods() if pod["metadata"]["name"].startswith(f"{prefix}-")]

    def wait_until_refused(prefix: str) -> None:
        # The scheduler has tried each pod and found no room: only then is it waiting in the
        # scheduler's queue (Volcano: only once its PodGroup exists, which the controller makes,
        # seconds later under load).
        deadline = time.monotonic() + 90
        while True:
            pods = probe_pods(prefix)
            refused = [pod for pod in pods if any(
                condition["type"] == "PodScheduled" and condition["status"] == "False"
                for condition in pod.get("status", {}).get("conditions", []))]
            if pods and len(refused) == len(pods):
                return
            assert time.monotonic() < deadline, f"{prefix} pods never tried by the scheduler: {len(refused)}/{len(pods)}"
            time.sleep(0.5)

    sched.submit(early[0], 4, prefix="early", **early[1])
    wait_until_refused("early")
    time.sleep(2)  # the early tasks have clearly waited longer
    sched.submit(late[0], 4, prefix="late", **late[1])
    wait_until_refused("late")

    def bound_by_prefix() -> dict[str, int]:
        found = {"early": 0, "late": 0}
        for prefix in found:
            found[prefix] = sum(1 for pod in probe_pods(prefix)
                                if pod["spec"].get("nodeName") and not pod["metadata"].get("deletionTimestamp"))
        return found

    before = bound_by_prefix()
    # Released at once, as a finished task's pod: a graceful delete only marks the pod first, the
    # scheduler retries while its cpu is still taken, and the retried pods sit out a backoff.
    sched.cluster.kubectl("delete", "pod", *[f"filler-{index}" for index in range(4)], "-n", sched.namespace,
                          "--grace-period=0", "--force", "--wait=false")
    deadline = time.monotonic() + 90
    while sum(bound_by_prefix().values()) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # a bind or preemption still in flight shows
    after = bound_by_prefix()
    # An early pod that is gone was bound and then preempted by a late one (its task would retry).
    preempted = 4 - len([pod for pod in probe_pods("early") if not pod["metadata"].get("deletionTimestamp")])
    assert sum(after.values()) == 4, f"freed capacity was not used within 90 s: {after}, {preempted} preempted"
    return {"before": before, "after": after, "preempted": preempted}
