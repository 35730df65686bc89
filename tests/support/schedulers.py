"""The scheduler tiers' shared cases: the contended team tree, the real koord-scheduler and
Volcano started over a kit stack, and the priority-order probe (tests/schedulers, and the e2e
tier's Airflow quota wait)."""

from __future__ import annotations

import time

import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.scheduling import volcano
from airflow_kit_platform.settings import load_settings
from repo_tools.schedulers import (
    KOORD_PRIORITY_CLASSES,
    NODE_CPU,
    SchedulerCluster,
    configmap_data,
    deployment_flags,
    helm_render,
    koord_scheduler_args,
    koord_scheduler_config,
    volcano_commands,
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


def volcano_stack(namespace: str, teams: list[dict]) -> dict:
    """A kit stack for Volcano's tiers: queues and templates only (the tier runs the scheduler)."""
    return {"namespace": namespace,
            "airflow": {"chart": {"install": False}, "executors": ["CeleryExecutor", "KubernetesExecutor"]},
            "scheduler": {"backend": "volcano", "install": False, "loadAware": {"enabled": False}},
            "teams": teams}


def start_volcano(factory, tmp_path_factory, stack: str, config: dict) -> tuple[SchedulerCluster, dict]:
    """A cluster with the kit's Volcano stack applied, and vc-scheduler and vc-controller-manager
    running with `volcano-scheduler.conf` and their flags as the real chart renders them from the
    kit's values (returned parsed, to check which queue plugin the stack chose)."""
    require_tools("vc-scheduler", "vc-controller-manager")
    sched = factory(stack, config, ["volcano"])
    MEASURED[f"schedulers: pulumi up of the {stack} stack"] = f"{sched.up_seconds:.1f} s"
    installed = load_settings(stack, {**config, "scheduler": {**config["scheduler"], "install": True}})
    spec = volcano.chart_spec(installed)
    work = tmp_path_factory.mktemp(f"{stack}-config")
    objects = helm_render(f"volcano-{versions.VOLCANO_CHART_VERSION}.tgz", spec.release, spec.namespace,
                          dict(spec.values), work)
    text = configmap_data(objects, "volcano-scheduler-configmap", "volcano-scheduler.conf")
    path = work / "volcano-scheduler.conf"
    path.write_text(text)
    started = time.perf_counter()
    for name, args in volcano_commands(sched.cluster.kubeconfig, str(path),
                                       deployment_flags(objects, f"{spec.release}-controllers"),
                                       deployment_flags(objects, f"{spec.release}-scheduler")):
        sched.start(name, args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # ready when it has made its root queue
        if "root" in sched.cluster.kubectl("get", "queues.scheduling.volcano.sh", "-o", "name", check=False).stdout:
            break
        for scheduler in sched.schedulers:
            assert scheduler.alive(), scheduler.tail()
        time.sleep(0.5)
    MEASURED[f"schedulers: vc-scheduler and vc-controller-manager ready ({stack})"] = \
        f"{time.perf_counter() - started:.1f} s"
    return sched, yaml.safe_load(text)


def queue_plugins(conf: dict) -> list[dict]:
    """The queue plugins of a `volcano-scheduler.conf` (capacity, with or without its hierarchy)."""
    return [plugin for tier in conf["tiers"] for plugin in tier["plugins"]
            if plugin["name"] in ("capacity", "proportion")]


def delete_podgroups_of_gone_pods(sched: SchedulerCluster) -> None:
    """Volcano's PodGroups of deleted pods hold their queue reservations until the garbage
    collector (kube-controller-manager, not run here) removes them: do its work."""
    pods = {pod["metadata"]["name"] for pod in sched.pods() if not pod["metadata"].get("deletionTimestamp")}
    groups = sched.get("podgroups.scheduling.volcano.sh", "-n", sched.namespace)["items"]
    gone = [group["metadata"]["name"] for group in groups
            if not any(owner["kind"] == "Pod" and owner["name"] in pods
                       for owner in group["metadata"].get("ownerReferences", []))]
    if gone:
        sched.cluster.kubectl("delete", "podgroups.scheduling.volcano.sh", "-n", sched.namespace, *gone, check=False)


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
