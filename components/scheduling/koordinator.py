"""The Koordinator backend: koord-scheduler places task pods inside elastic team quotas.

The design and why: docs/backend-koordinator.md.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import (
    CHART_OVERRIDE_ANNOTATION,
    EXECUTOR_POD_LABEL,
    TEAM_LABEL,
    cluster_name,
    part_of,
    require_label_value,
)
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.scheduling.backend import ChartSpec, PodMarks, SchedulingPlan
from airflow_kit_platform.settings import Settings

BACKEND = "koordinator"
SCHEDULER_NAME = BACKENDS[BACKEND].scheduler_name
RELEASE = "koordinator"
SYSTEM_NAMESPACE = "koordinator-system"
QUOTA_API_VERSION = "scheduling.sigs.k8s.io/v1alpha1"
PROFILE_API_VERSION = "config.koordinator.sh/v1alpha1"
QUOTA_PREFIX = "quota.scheduling.koordinator.sh"
LABEL_QUOTA_NAME = f"{QUOTA_PREFIX}/name"
LABEL_QUOTA_PARENT = f"{QUOTA_PREFIX}/parent"
LABEL_QUOTA_IS_PARENT = f"{QUOTA_PREFIX}/is-parent"
ANNOTATION_SHARED_WEIGHT = f"{QUOTA_PREFIX}/shared-weight"
LABEL_QOS = "koordinator.sh/qosClass"
# Quotas Koordinator keeps for itself; a team of that name would collide with them.
RESERVED_QUOTA_NAMES = ("koordinator-root-quota", "koordinator-system-quota", "koordinator-default-quota")
SCHEDULER_CONFIG = "koord-scheduler-config"
# The scheduler's own API client: kube-scheduler's defaults (50 requests/s, burst 100) cap
# koord-scheduler far below them, as it also writes each refused pod's status and its quotas
# (bench/: at 1,000 nodes pods waited up to 18 s on that client-side limit).
SCHEDULER_API_QPS = 200
SCHEDULER_API_BURST = 400
SLO_CONFIG = "slo-controller-config"
DESCHEDULER_CONFIG = "koord-descheduler-config"
# LowNodeLoad: nodes above the load-aware thresholds are hot; pods move to nodes below
# this percentage of them, rounded (chart 1.8.0's own example pairs are 45/75 and 55/80).
LOW_NODE_LOAD_PERCENT = 70


def priority_class_name(team: Team, best_effort: bool) -> str:
    if best_effort:
        return "koord-free" if team.priority == "free" else "koord-batch"
    return f"koord-{team.priority}"


def overcommit_teams(settings: Settings) -> list[Team]:
    """Leaf teams that run as BE: the stack switch and the team's own flag."""
    if not settings.scheduler.overcommit.enabled:
        return []
    return [team for team in settings.teams.leaves() if team.overcommit]


def chart_spec(settings: Settings) -> ChartSpec:
    scheduler = settings.scheduler
    return ChartSpec(
        release=RELEASE,
        chart="koordinator",
        repository=versions.KOORDINATOR_CHART_REPO,
        version=scheduler.chart_version or versions.KOORDINATOR_CHART_VERSION,
        namespace=SYSTEM_NAMESPACE,
        values={"imageRepositoryHost": scheduler.image_registry,
                "installation": {"namespace": SYSTEM_NAMESPACE}},
        create_namespace=False,  # the chart renders the Namespace itself
    )


def shared_weight(team: Team) -> str:
    return json.dumps({resource: str(team.weight) for resource in team.max}, sort_keys=True)


def quota_name(settings: Settings, team: str) -> str:
    """koord-scheduler keys quotas by name across namespaces: `<namespace>-<team>` (see cluster_name)."""
    return cluster_name(settings.namespace, team)


def elastic_quota(settings: Settings, team: Team) -> dict[str, Any]:
    is_parent = settings.teams.is_parent(team.name)
    labels = part_of({TEAM_LABEL: team.name, LABEL_QUOTA_IS_PARENT: "true" if is_parent else "false"})
    if team.parent is not None:
        labels[LABEL_QUOTA_PARENT] = quota_name(settings, team.parent)
    return {
        "apiVersion": QUOTA_API_VERSION,
        "kind": "ElasticQuota",
        "metadata": {"name": quota_name(settings, team.name), "namespace": settings.namespace, "labels": labels,
                     "annotations": {ANNOTATION_SHARED_WEIGHT: shared_weight(team)}},
        "spec": {"min": dict(team.min), "max": dict(team.max)},
    }


def colocation_profiles(settings: Settings) -> list[dict[str, Any]]:
    """One ClusterColocationProfile per BE priority class in use (batch, free)."""
    groups: dict[str, list[str]] = {}
    for team in overcommit_teams(settings):
        groups.setdefault(priority_class_name(team, best_effort=True), []).append(quota_name(settings, team.name))
    profiles = []
    for priority_class, teams in sorted(groups.items()):
        suffix = "" if priority_class == "koord-batch" else "-free"
        key, value = EXECUTOR_POD_LABEL
        profiles.append({
            "apiVersion": PROFILE_API_VERSION,
            "kind": "ClusterColocationProfile",
            "metadata": {"name": f"airflow-kit-{settings.namespace}-overcommit{suffix}", "labels": part_of()},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.namespace}},
                "selector": {
                    "matchLabels": {key: value},
                    "matchExpressions": [{"key": LABEL_QUOTA_NAME, "operator": "In", "values": sorted(teams)}],
                },
                "qosClass": "BE",
                "priorityClassName": priority_class,
                "schedulerName": SCHEDULER_NAME,
            },
        })
    return profiles


def _override(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE, "labels": part_of(),
                     "annotations": {CHART_OVERRIDE_ANNOTATION: RELEASE}},
        "data": data,
    }


def _yaml(document: Any) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False)


def load_aware_args(settings: Settings) -> dict[str, Any]:
    load = settings.scheduler.load_aware
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "LoadAwareSchedulingArgs",
        "nodeMetricExpirationSeconds": load.metric_expiration_seconds,
        "usageThresholds": {"cpu": load.cpu_threshold_percent, "memory": load.memory_threshold_percent},
        "estimatedScalingFactors": {"cpu": load.cpu_estimated_scaling_percent,
                                    "memory": load.memory_estimated_scaling_percent},
    }


def elastic_quota_args(settings: Settings) -> dict[str, Any]:
    """The quota tree as the stack states it (koord-scheduler's defaults say otherwise).

    * `enableCheckParentQuota`: a parent's max bounds its whole subtree (off by default: a
      parent then exceeds its max by the sum of its children's borrowing);
    * `monitorAllQuotas`: pods of a quota above its runtime share are evicted after
      `delayEvictTime`, so capacity a team borrowed is given back (off by default: never);
    * `delayEvictTime`: `scheduler.reclaimDelay`.
    The chart's own keys (`quotaGroupNamespace`) stay as rendered.
    """
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "ElasticQuotaArgs",
        "enableCheckParentQuota": True,
        "monitorAllQuotas": True,
        "delayEvictTime": f"{settings.scheduler.reclaim_delay_seconds}s",
    }


def scheduler_config_override(settings: Settings) -> dict[str, Any]:
    """The part of KubeSchedulerConfiguration the kit sets (merged by profile and plugin name)."""
    plugins = [{"name": "ElasticQuota", "args": elastic_quota_args(settings)}]
    if settings.scheduler.load_aware.enabled:
        plugins.append({"name": "LoadAwareScheduling", "args": load_aware_args(settings)})
    document = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"qps": SCHEDULER_API_QPS, "burst": SCHEDULER_API_BURST},
        "profiles": [{"schedulerName": SCHEDULER_NAME, "pluginConfig": plugins}],
    }
    return _override(SCHEDULER_CONFIG, {SCHEDULER_CONFIG: _yaml(document)})


def colocation_config(settings: Settings) -> dict[str, Any]:
    overcommit = settings.scheduler.overcommit
    return {"enable": True,
            "cpuReclaimThresholdPercent": overcommit.cpu_reclaim_threshold_percent,
            "memoryReclaimThresholdPercent": overcommit.memory_reclaim_threshold_percent}


def slo_config_override(settings: Settings) -> dict[str, Any]:
    return _override(SLO_CONFIG, {"colocation-config": json.dumps(colocation_config(settings), indent=2)})


def low_node_load_args(settings: Settings) -> dict[str, Any]:
    load = settings.scheduler.load_aware
    high = {"cpu": load.cpu_threshold_percent, "memory": load.memory_threshold_percent}
    low = {resource: max(1, (value * LOW_NODE_LOAD_PERCENT + 50) // 100) for resource, value in high.items()}
    return {
        "apiVersion": "descheduler/v1alpha2",
        "kind": "LowNodeLoadArgs",
        # Only the Airflow namespace: the kit does not move other tenants' pods. `exclude`
        # is removed (null in a merge patch): include and exclude are exclusive.
        "evictableNamespaces": {"include": [settings.namespace], "exclude": None},
        "useDeviationThresholds": False,
        "lowThresholds": low,
        "highThresholds": high,
    }


def descheduler_config_override(settings: Settings) -> dict[str, Any]:
    document = {
        "apiVersion": "descheduler/v1alpha2",
        "kind": "DeschedulerConfiguration",
        "profiles": [{
            "name": "koord-descheduler",
            "plugins": {"balance": {"enabled": [{"name": "LowNodeLoad"}]}},
            "pluginConfig": [{"name": "LowNodeLoad", "args": low_node_load_args(settings)}],
        }],
    }
    return _override(DESCHEDULER_CONFIG, {DESCHEDULER_CONFIG: _yaml(document)})


def chart_overrides(settings: Settings) -> list[dict[str, Any]]:
    if not settings.scheduler.install:
        return []
    overrides = [scheduler_config_override(settings)]
    if settings.scheduler.overcommit.enabled:
        overrides.append(slo_config_override(settings))
    if settings.scheduler.deschedule_low_node_load:
        overrides.append(descheduler_config_override(settings))
    return overrides


def pod_marks(settings: Settings, team: Team, best_effort: bool) -> PodMarks:
    return PodMarks(
        scheduler_name=SCHEDULER_NAME,
        labels={TEAM_LABEL: team.name, LABEL_QUOTA_NAME: quota_name(settings, team.name),
                LABEL_QOS: "BE" if best_effort else "LS"},
        priority_class_name=priority_class_name(team, best_effort),
    )


def validate(settings: Settings) -> None:
    """What Koordinator's quota webhook would refuse, said before anything is applied."""
    for team in settings.teams:
        if team.name in RESERVED_QUOTA_NAMES:
            raise ConfigError(settings.stack, f"teams[{team.name}].name", team.name,
                              f"is reserved by Koordinator ({', '.join(RESERVED_QUOTA_NAMES)}); choose another name")
        require_label_value(settings.stack, team.name, quota_name(settings, team.name), "quota name",
                            "pods name their quota")
        if team.parent is None:
            continue
        parent = settings.teams.get(team.parent)
        if set(team.max) != set(parent.max):
            raise ConfigError(settings.stack, f"teams[{team.name}].max", dict(team.max),
                              f"must bound the same resources as its parent '{parent.name}' max "
                              f"({', '.join(sorted(parent.max))}): Koordinator refuses a child quota whose max "
                              f"names other resources than its parent's")


def plan(settings: Settings) -> SchedulingPlan:
    validate(settings)
    best_effort = {team.name for team in overcommit_teams(settings)}
    quotas = [elastic_quota(settings, team) for team in settings.teams.depth_first()]
    return SchedulingPlan(
        backend=BACKEND,
        charts=(chart_spec(settings),) if settings.scheduler.install else (),
        custom_resources=tuple(quotas + colocation_profiles(settings)),
        core_objects=tuple(chart_overrides(settings)),
        pod_marks={team.name: pod_marks(settings, team, team.name in best_effort) for team in settings.teams.leaves()},
    )


def notes(settings: Settings) -> tuple[str, ...]:
    scheduler = settings.scheduler
    found = []
    if not scheduler.install:
        if scheduler.load_aware.enabled:
            found.append("koordinator install: false: load-aware thresholds are not applied by the kit (the managed "
                         f"add-on owns {SCHEDULER_CONFIG}); set cpu {scheduler.load_aware.cpu_threshold_percent}% / "
                         f"memory {scheduler.load_aware.memory_threshold_percent}% in the add-on's configuration")
        if scheduler.overcommit.enabled:
            found.append("koordinator install: false: colocation (batch resources) is not switched on by the kit; "
                         "enable colocation-config in the add-on's SLO ConfigMap (ACK: kube-system/ack-slo-config)")
        if scheduler.deschedule_low_node_load:
            found.append("koordinator install: false: LowNodeLoad is not configured by the kit; enable it in the "
                         "add-on's descheduler configuration")
    ignored = [team.name for team in settings.teams.leaves() if team.overcommit and not scheduler.overcommit.enabled]
    if ignored:
        found.append(f"teams {', '.join(ignored)} ask for overcommit but scheduler.overcommit.enabled is false: "
                     "they run as LS")
    return tuple(found)
