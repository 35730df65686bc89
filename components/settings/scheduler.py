"""The `scheduler` block: the batch scheduler backend and its load-aware, overcommit and queue-wait settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from airflow_kit_platform.config_reader import Section
from airflow_kit_platform.model.backends import BACKENDS, refuse_foreign_key
from airflow_kit_platform.settings.common import SCHEDULER_NAME, chart_values_need_install

# Who owns the cluster's one ElasticQuotaTree on ACK: the kit, or the cluster admin (then the
# kit exports its subtree to merge).
QUOTA_TREE_OWNERS = ("kit", "admin")

MIN_QUEUE_WAIT_SECONDS = 30
# Volcano's queues (`scheduler.queueMode`): one per leaf team (lent capacity is reclaimed), or the
# team tree under the capacity plugin's hierarchy (parents' max hold). Unset: the tree decides
# (components/scheduling/volcano.py).
QUEUE_MODES = ("flat", "hierarchy")


@dataclass(frozen=True)
class LoadAware:
    enabled: bool = True
    cpu_threshold_percent: int = 65
    memory_threshold_percent: int = 80
    cpu_estimated_scaling_percent: int = 85
    memory_estimated_scaling_percent: int = 70
    metric_expiration_seconds: int = 180
    prometheus_address: Optional[str] = None  # Volcano's usage plugin reads node metrics here


@dataclass(frozen=True)
class Overcommit:
    enabled: bool = False
    cpu_reclaim_threshold_percent: int = 60
    memory_reclaim_threshold_percent: int = 65
    # ACK: the kit patches kube-system/ack-slo-config's colocation-config itself (else it prints
    # the change): the managed add-on owns that ConfigMap, so only when the stack says so.
    manage_slo_config: bool = False


@dataclass(frozen=True)
class QuotaTree:
    """ACK's one ElasticQuotaTree (kube-system): who owns it, and its root (min == max)."""
    owner: str = "kit"
    root: Mapping[str, str] = field(default_factory=dict)  # empty: the kit's subtree's max


@dataclass(frozen=True)
class SchedulerSettings:
    backend: str = "default"
    install: bool = False  # the loader's default: the backend's `installs_chart` (model/backends.py)
    chart_version: Optional[str] = None
    image_registry: Optional[str] = None
    load_aware: LoadAware = field(default_factory=LoadAware)
    overcommit: Overcommit = field(default_factory=Overcommit)
    deschedule_low_node_load: bool = False
    # Queues, quotas and their CRDs survive destroy, backend switches and chart upgrades.
    retain_queues: bool = True
    # Seconds a task may stay queued (its pod Pending for quota) before Airflow fails it.
    max_queue_wait_seconds: int = 6 * 3600
    # Koordinator: seconds a quota may stay above its share before its borrowed pods are evicted.
    reclaim_delay_seconds: int = 120
    scheduler_name_override: Optional[str] = None  # `scheduler.schedulerName`
    quota_tree: QuotaTree = field(default_factory=QuotaTree)
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # the backend's chart, when installed
    queue_mode: Optional[str] = None  # `scheduler.queueMode` (Volcano); None: the team tree decides

    @property
    def scheduler_name(self) -> str:
        """The scheduler every task and Job pod names."""
        return self.scheduler_name_override or BACKENDS[self.backend].scheduler_name


def read_percent(section: Section, name: str, default: int) -> int:
    return section.integer(name, default, minimum=1, maximum=100)


def read_scheduler(section: Section) -> SchedulerSettings:
    backend = section.choice("backend", tuple(BACKENDS), SchedulerSettings.backend)
    facts = BACKENDS[backend]
    install = section.boolean("install", facts.installs_chart)
    chart_version = section.string("chartVersion", None)
    image_registry = section.string("imageRegistry", None)
    if facts.install_needs_image_registry and install and image_registry is None:
        raise section.error("imageRegistry", None, facts.install_needs_image_registry)
    block = section.section("loadAware")
    load_aware = LoadAware(
        enabled=block.boolean("enabled", LoadAware.enabled),
        cpu_threshold_percent=read_percent(block, "cpuThresholdPercent", LoadAware.cpu_threshold_percent),
        memory_threshold_percent=read_percent(block, "memoryThresholdPercent", LoadAware.memory_threshold_percent),
        cpu_estimated_scaling_percent=read_percent(block, "cpuEstimatedScalingPercent", LoadAware.cpu_estimated_scaling_percent),
        memory_estimated_scaling_percent=read_percent(block, "memoryEstimatedScalingPercent", LoadAware.memory_estimated_scaling_percent),
        metric_expiration_seconds=block.integer("metricExpirationSeconds", LoadAware.metric_expiration_seconds, minimum=10),
        prometheus_address=block.string("prometheusAddress", None),
    )
    block.finish()
    if facts.load_aware_needs_prometheus and load_aware.enabled and load_aware.prometheus_address is None:
        raise block.error("prometheusAddress", None, facts.load_aware_needs_prometheus)
    block = section.section("overcommit")
    overcommit = Overcommit(
        enabled=block.boolean("enabled", Overcommit.enabled),
        cpu_reclaim_threshold_percent=read_percent(block, "cpuReclaimThresholdPercent", Overcommit.cpu_reclaim_threshold_percent),
        memory_reclaim_threshold_percent=read_percent(block, "memoryReclaimThresholdPercent", Overcommit.memory_reclaim_threshold_percent),
        manage_slo_config=block.boolean("manageSloConfig", Overcommit.manage_slo_config),
    )
    if overcommit.manage_slo_config and (refused := refuse_foreign_key(backend, "scheduler.overcommit.manageSloConfig")):
        raise block.error("manageSloConfig", True, refused)
    block.finish()
    quota_tree = QuotaTree()
    if section.has("quotaTree"):
        block = section.section("quotaTree")
        if refused := refuse_foreign_key(backend, "scheduler.quotaTree"):
            raise section.error("quotaTree", block.data, refused)
        owner = block.choice("owner", QUOTA_TREE_OWNERS, QuotaTree.owner)
        root = block.section("root")
        quota_tree = QuotaTree(owner=owner, root={resource: root.quantity(resource) for resource in root.data})
        block.finish()
    queue_mode = section.choice("queueMode", QUEUE_MODES, None)
    if queue_mode is not None and (refused := refuse_foreign_key(backend, "scheduler.queueMode")):
        raise section.error("queueMode", queue_mode, refused)
    scheduler = SchedulerSettings(
        backend=backend, install=install, chart_version=chart_version, image_registry=image_registry,
        load_aware=load_aware, overcommit=overcommit,
        deschedule_low_node_load=section.boolean("descheduleLowNodeLoad", SchedulerSettings.deschedule_low_node_load),
        retain_queues=section.boolean("retainQueues", SchedulerSettings.retain_queues),
        max_queue_wait_seconds=section.duration("maxQueueWait", facts.max_queue_wait,
                                                minimum_seconds=MIN_QUEUE_WAIT_SECONDS),
        reclaim_delay_seconds=section.duration("reclaimDelay", f"{SchedulerSettings.reclaim_delay_seconds}s"),
        scheduler_name_override=section.string("schedulerName", None, pattern=SCHEDULER_NAME,
                                               pattern_help="must be a scheduler name (lower-case letters, "
                                                            "digits, '-', '.')"),
        quota_tree=quota_tree,
        chart_values=section.mapping("chartValues"),
        queue_mode=queue_mode,
    )
    chart_values_need_install(section, scheduler.chart_values, install, "scheduler.install")
    if facts.install_refused and install:
        raise section.error("install", True, facts.install_refused)
    section.finish()
    return scheduler
