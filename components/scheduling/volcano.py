"""The Volcano backend: vc-scheduler places task pods through one queue per team.

The design and why: docs/backend-volcano.md.
"""

from __future__ import annotations

from typing import Any

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import TEAM_LABEL, cluster_name, part_of
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.quantities import parse_quantity, sum_quantities
from airflow_kit_platform.scheduling.backend import ChartSpec, PodMarks, SchedulingPlan
from airflow_kit_platform.scheduling.default import priority_class_name, priority_classes
from airflow_kit_platform.settings import Settings

BACKEND = "volcano"
SCHEDULER_NAME = BACKENDS[BACKEND].scheduler_name
RELEASE = "volcano"
SYSTEM_NAMESPACE = "volcano-system"
QUEUE_API_VERSION = "scheduling.volcano.sh/v1beta1"
QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"
QOS_ANNOTATION = "volcano.sh/qos-level"
ROOT_QUEUE = "root"
# Queues Volcano creates itself (`root` by the scheduler, `default` by the chart).
RESERVED_QUEUE_NAMES = (ROOT_QUEUE, "default")
ACTIONS = "enqueue, allocate, reclaim, backfill"
METRICS_INTERVAL = "30s"
USAGE_WEIGHT = 5  # the usage plugin's own default score weight


# A flattened tree's leaf queue weight: the leaf's share of the cluster along its path (each
# level's weight among its siblings), in thousandths.
FLAT_WEIGHT_SCALE = 1000
# Why the capacity plugin's hierarchy does not give lent capacity back (Volcano 1.14).
HIERARCHY_GIVE_BACK = ("lent capacity comes back only as the borrowing tasks finish (the capacity plugin admits a "
                       "podgroup only if it fits every ancestor, and reclaim skips podgroups not admitted: "
                       "volcano-sh/volcano#4817)")


def caps_flat_queues_lose(settings: Settings) -> list[str]:
    """Each parent's max that leaf queues alone could not hold: its leaf teams' max added up is above it."""
    lost = []
    for parent in settings.teams:
        if not settings.teams.is_parent(parent.name):
            continue
        leaves = settings.teams.leaves_under(parent.name)
        for resource, ceiling in parent.max.items():
            values = [leaf.max[resource] for leaf in leaves if resource in leaf.max]
            if len(values) < len(leaves):
                lost.append(f"'{parent.name}' max.{resource} {ceiling} (a team under it has no max.{resource})")
            elif sum(parse_quantity(value) for value in values) > parse_quantity(ceiling):
                lost.append(f"'{parent.name}' max.{resource} {ceiling} (its teams' max add up to "
                            f"{sum_quantities(resource, values)})")
    return lost


def queue_mode(settings: Settings) -> str:
    """`scheduler.queueMode`, else `flat` wherever the tree allows it (no parent's max binds)."""
    if settings.scheduler.queue_mode is not None:
        return settings.scheduler.queue_mode
    return "hierarchy" if caps_flat_queues_lose(settings) else "flat"  # a tree without parents loses none


def hierarchical(settings: Settings) -> bool:
    return queue_mode(settings) == "hierarchy"


def queued_teams(settings: Settings, hierarchy: bool) -> list[Team]:
    """The teams that get a queue: the whole tree in a hierarchy, the leaves when flat."""
    teams = settings.teams.depth_first()
    return teams if hierarchy else [team for team in teams if not settings.teams.is_parent(team.name)]


def flat_weight(settings: Settings, team: Team) -> int:
    """A leaf queue's weight: the team's own in a tree without parents, else its share along the path."""
    if all(each.parent is None for each in settings.teams):
        return team.weight
    share, current = 1.0, team
    while True:
        siblings = settings.teams.children(current.parent)
        share *= current.weight / sum(sibling.weight for sibling in siblings)
        if current.parent is None:
            break
        current = settings.teams.get(current.parent)
    return max(1, round(share * FLAT_WEIGHT_SCALE))


def overcommit_teams(settings: Settings) -> list[Team]:
    if not settings.scheduler.overcommit.enabled:
        return []
    return [team for team in settings.teams.leaves() if team.overcommit]


def scheduler_config(settings: Settings) -> dict[str, Any]:
    scheduler = settings.scheduler
    load = scheduler.load_aware
    # capacity, not proportion, in both modes: proportion's `guarantee` is reserved for its queue
    # (the others' real capability is the cluster minus every guarantee), so an idle team's min
    # would never be lent; capacity's `deserved` is lent and reclaimed. No `overcommit` plugin:
    # once the other teams' waiting tasks fill its admission headroom (cluster x factor) it keeps
    # a returning team's tasks from being admitted, and reclaim only serves admitted ones.
    queue_plugin: dict[str, Any] = ({"name": "capacity", "enableHierarchy": True} if hierarchical(settings)
                                    else {"name": "capacity"})
    second_tier: list[dict[str, Any]] = [
        {"name": "drf", "enablePreemptable": False},
        {"name": "predicates"},
        queue_plugin,
        {"name": "nodeorder"},
    ]
    if load.enabled:
        second_tier.append({
            "name": "usage",
            "enablePredicate": True,
            "arguments": {"usage.weight": USAGE_WEIGHT, "cpu.weight": 1, "memory.weight": 1,
                          "thresholds": {"cpu": load.cpu_threshold_percent, "mem": load.memory_threshold_percent}},
        })
    else:
        second_tier.append({"name": "binpack"})
    config: dict[str, Any] = {
        "actions": ACTIONS,
        "tiers": [
            {"plugins": [{"name": "priority"}, {"name": "gang", "enablePreemptable": False},
                         {"name": "conformance"}]},
            {"plugins": second_tier},
        ],
    }
    if load.enabled:
        config["metrics"] = {"type": "prometheus", "address": load.prometheus_address, "interval": METRICS_INTERVAL}
    return config


def scheduler_config_text(settings: Settings) -> str:
    import yaml

    return yaml.safe_dump(scheduler_config(settings), sort_keys=False)


def chart_spec(settings: Settings) -> ChartSpec:
    scheduler = settings.scheduler
    values: dict[str, Any] = {"custom": {"scheduler_config_override": scheduler_config_text(settings),
                                         "colocation_enable": scheduler.overcommit.enabled}}
    if scheduler.image_registry:
        values["basic"] = {"image_registry": scheduler.image_registry}
    return ChartSpec(
        release=RELEASE,
        chart="volcano",
        repository=versions.VOLCANO_CHART_REPO,
        version=scheduler.chart_version or versions.VOLCANO_CHART_VERSION,
        namespace=SYSTEM_NAMESPACE,
        values=values,
        create_namespace=True,
    )


def queue_name(settings: Settings, team: str) -> str:
    """Queues are cluster-scoped: `<namespace>-<team>` (see cluster_name)."""
    return cluster_name(settings.namespace, team)


def queue(settings: Settings, team: Team, hierarchy: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"capability": dict(team.max), "reclaimable": True}
    if hierarchy:
        spec = {"weight": team.weight, **spec, "deserved": dict(team.min),
                "parent": queue_name(settings, team.parent) if team.parent else ROOT_QUEUE}
    else:
        spec = {"weight": flat_weight(settings, team), **spec, "deserved": dict(team.min)}
    return {
        "apiVersion": QUEUE_API_VERSION,
        "kind": "Queue",
        "metadata": {"name": queue_name(settings, team.name), "labels": part_of({TEAM_LABEL: team.name})},
        "spec": spec,
    }


def pod_marks(settings: Settings, team: Team, best_effort: bool) -> PodMarks:
    annotations = {QUEUE_ANNOTATION: queue_name(settings, team.name)}
    if best_effort:
        annotations[QOS_ANNOTATION] = "BE"
    return PodMarks(scheduler_name=SCHEDULER_NAME, labels={TEAM_LABEL: team.name}, annotations=annotations,
                    priority_class_name=priority_class_name(settings.namespace, team.priority))


def validate(settings: Settings) -> None:
    """What Volcano would refuse (or silently ignore), said before anything is applied."""
    lost = caps_flat_queues_lose(settings)
    hierarchy = hierarchical(settings)
    if settings.scheduler.queue_mode == "flat" and lost:
        raise ConfigError(settings.stack, "scheduler.queueMode", "flat",
                          f"flat queues cannot hold the parent team {lost[0]}: raise that max, or use hierarchy "
                          "(where " + HIERARCHY_GIVE_BACK + ")")
    for team in settings.teams:
        if team.name in RESERVED_QUEUE_NAMES:
            raise ConfigError(settings.stack, f"teams[{team.name}].name", team.name,
                              f"is a queue Volcano creates itself ({', '.join(RESERVED_QUEUE_NAMES)}); "
                              "choose another name")
        if team.parent is None or not hierarchy:
            continue
        parent = settings.teams.get(team.parent)
        for resource, ceiling in team.max.items():
            parent_ceiling = parent.max.get(resource)
            if parent_ceiling is not None and parse_quantity(ceiling) > parse_quantity(parent_ceiling):
                # The capacity plugin drops the whole hierarchy ("queue capability is less than
                # its child queue") and schedules nothing.
                raise ConfigError(settings.stack, f"teams[{team.name}].max.{resource}", ceiling,
                                  f"must not exceed its parent '{parent.name}' max.{resource} {parent_ceiling}: "
                                  "Volcano's capacity plugin rejects a queue tree whose child capability is "
                                  "above its parent's")


def plan(settings: Settings) -> SchedulingPlan:
    validate(settings)
    hierarchy = hierarchical(settings)
    best_effort = {team.name for team in overcommit_teams(settings)}
    return SchedulingPlan(
        backend=BACKEND,
        charts=(chart_spec(settings),) if settings.scheduler.install else (),
        custom_resources=tuple(queue(settings, team, hierarchy) for team in queued_teams(settings, hierarchy)),
        core_objects=tuple(priority_classes(settings.namespace, settings.teams)),
        pod_marks={team.name: pod_marks(settings, team, team.name in best_effort) for team in settings.teams.leaves()},
    )


def notes(settings: Settings) -> tuple[str, ...]:
    found = []
    if not settings.scheduler.install:
        plugin = "capacity (enableHierarchy: true)" if hierarchical(settings) else "capacity"
        found.append(f"volcano install: false: the kit does not configure vc-scheduler; its queues need the {plugin} "
                     "plugin (volcano.scheduler_config_text(settings) prints the kit's configuration)")
    if hierarchical(settings):
        why = ("scheduler.queueMode: hierarchy" if settings.scheduler.queue_mode
               else f"the parent team {caps_flat_queues_lose(settings)[0]}")
        found.append(f"volcano queues follow the team tree ({why}): {HIERARCHY_GIVE_BACK}")
    if settings.scheduler.overcommit.enabled and settings.scheduler.install:
        found.append("volcano colocation is on (volcano-agent): label the nodes that may run overcommitted tasks "
                     "with volcano.sh/colocation=true")
    return tuple(found)
