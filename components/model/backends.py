"""The one table of scheduling backends: what the settings, the layers and the benchmark know of
each before its module (components/scheduling/<name>.py) renders anything, including
the rules its settings must follow. Nothing outside the table and the backend's module names a
backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class BackendFacts:
    name: str
    # The scheduler a task pod names unless `scheduler.schedulerName` says otherwise.
    scheduler_name: str
    # The kit installs the backend's chart unless `scheduler.install: false` (an existing install).
    installs_chart: bool
    # How long a task may wait for its team's quota (`scheduler.maxQueueWait`): batch schedulers
    # hold pods Pending by design, for hours; kube-scheduler only while no node fits.
    max_queue_wait: str
    # Why `scheduler.install: true` is refused; empty: allowed.
    install_refused: str = ""
    # Why installing it needs `scheduler.imageRegistry`; empty: it does not.
    install_needs_image_registry: str = ""
    # Why load-aware scheduling needs `scheduler.loadAware.prometheusAddress`; empty: it does not.
    load_aware_needs_prometheus: str = ""
    # Why every team needs a namespace of its own (`teamNamespaces` then defaults to, and must be, true).
    team_namespaces_required: str = ""
    # A ResourceQuota refuses a pod over the team's share when it is created (the task fails):
    # team pools default to what the min holds, and must fit the max.
    quota_refuses_pods: bool = False
    # The scheduler may take a running task pod away (reclaim of borrowed capacity, overcommit).
    preempts: bool = True
    # Keys that apply to this backend only, each with what it is for (said when another backend has it).
    own_keys: Mapping[str, str] = field(default_factory=dict)
    # Job queue backends (`queue.backend`) it works with, each with why.
    queues: Mapping[str, str] = field(default_factory=dict)
    # Those of them the cluster's provider manages (`queue.install: true` refused), with why.
    managed_queues: Mapping[str, str] = field(default_factory=dict)


BACKENDS = {facts.name: facts for facts in (
    BackendFacts("default", scheduler_name="default-scheduler", installs_chart=False, max_queue_wait="30m",
                 install_refused="the default kube-scheduler is part of the cluster; install applies to "
                                 "koordinator and volcano",
                 quota_refuses_pods=True,
                 preempts=False),  # the kit's pods carry `preemptionPolicy: Never`
    BackendFacts("koordinator", scheduler_name="koord-scheduler", installs_chart=True, max_queue_wait="6h",
                 # The chart's default points at a Beijing registry; an implicit pull from there is a surprise.
                 install_needs_image_registry="is required when the kit installs Koordinator (e.g. registry.k8s.io "
                                              "mirror or registry-cn-hangzhou.ack.aliyuncs.com)",
                 queues={"koord-queue": "koord-queue maps Jobs to Koordinator ElasticQuotas"}),
    BackendFacts("volcano", scheduler_name="volcano", installs_chart=True, max_queue_wait="6h",
                 load_aware_needs_prometheus="is required for Volcano load-aware scheduling (the usage plugin "
                                             "reads node usage from Prometheus), or set loadAware.enabled: false",
                 own_keys={"scheduler.queueMode": "(Volcano's queues: one per leaf team, or the "
                                                  "team tree as the capacity plugin's hierarchy)"}),
    # ACK Pro runs no koord-scheduler: its own kube-scheduler carries capacity scheduling.
    BackendFacts("ack", scheduler_name="default-scheduler", installs_chart=False, max_queue_wait="6h",
                 install_refused="ACK's scheduling add-ons (ack-koordinator, the scheduler) are managed by ACK; "
                                 "the kit only uses them",
                 team_namespaces_required="ACK maps a pod to its ElasticQuotaTree leaf by the pod's namespace, so "
                                          "each team needs its own",
                 own_keys={"scheduler.overcommit.manageSloConfig": "(kube-system/ack-slo-config); with koordinator "
                                                                   "the kit sets colocation through its chart",
                           "scheduler.quotaTree": "(its one ElasticQuotaTree)",
                           "localDisk.createStorageClass": "(the CSI local plugin's LVM class); elsewhere name a "
                                                           "StorageClass the cluster has"},
                 queues={"ack": "ACK kube-queue maps Jobs to the leaves of the ElasticQuotaTree"},
                 managed_queues={"ack": "ACK's kube-queue is a managed add-on; the kit only uses it"}),
)}


def key_owner(key: str) -> tuple[str, str]:
    """(backend, what the key is for) of a key that applies to one backend only."""
    for facts in BACKENDS.values():
        if key in facts.own_keys:
            return facts.name, facts.own_keys[key]
    raise KeyError(key)


def refuse_foreign_key(backend: str, key: str) -> str:
    """Why `key` does not apply to `backend` ("" when it does): `applies to scheduler.backend X (...)`."""
    owner, purpose = key_owner(key)
    return "" if owner == backend else f"applies to scheduler.backend {owner} {purpose}"


# queue.backend -> (the scheduler backend it needs, why).
QUEUE_NEEDS = {queue: (facts.name, why) for facts in BACKENDS.values() for queue, why in facts.queues.items()}
