"""The default backend: kube-scheduler places task pods; plain Kubernetes bounds them.

The design and why: docs/backend-default.md.
"""

from __future__ import annotations

from typing import Any, Optional

from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import PART_OF_LABELS, TEAM_LABEL, cluster_name, part_of
from airflow_kit_platform.model.teams import PRIORITY_VALUES, Team, TeamTree
from airflow_kit_platform.quantities import sum_quantities
from airflow_kit_platform.scheduling.backend import PodMarks, SchedulingPlan
from airflow_kit_platform.settings import Settings

BACKEND = "default"
SCHEDULER_NAME = BACKENDS[BACKEND].scheduler_name
RESOURCE_QUOTA_NAME = "airflow-kit-tasks"
# One ResourceQuota per team of the tree in the stack's namespace: `<prefix><team>`.
TEAM_QUOTA_PREFIX = "airflow-kit-team-"
LIMIT_RANGE_NAME = "airflow-kit-task-defaults"
DEFAULT_PUBLISH_RETRIES = 3
# Resource names a ResourceQuota accepts as `requests.<name>` for the team model's resources.
QUOTA_KEYS = {"cpu": "requests.cpu", "memory": "requests.memory",
              "nvidia.com/gpu": "requests.nvidia.com/gpu", "ephemeral-storage": "requests.ephemeral-storage"}


def priority_class_name(namespace: str, tier: str) -> str:
    """PriorityClasses are cluster-scoped: each stack has its own (see cluster_name)."""
    return cluster_name(namespace, tier)


def team_priority_class_name(namespace: str, team: str) -> str:
    """A leaf team's own PriorityClass (its tier's value): the handle its ResourceQuotas select
    its pods by, since pods of every team share the stack's namespace."""
    return cluster_name(namespace, f"team-{team}")


def used_tiers(teams: TeamTree) -> list[str]:
    """Priority tiers of the teams that run tasks (leaves), in PRIORITY_VALUES order."""
    used = {team.priority for team in teams.leaves()}
    return [tier for tier in PRIORITY_VALUES if tier in used]


def priority_class(name: str, tier: str, description: str,
                   preemption_policy: Optional[str] = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name, "labels": dict(PART_OF_LABELS)},
        "value": PRIORITY_VALUES[tier],
        "globalDefault": False,
        "description": description,
    }
    if preemption_policy is not None:
        manifest["preemptionPolicy"] = preemption_policy
    return manifest


def priority_classes(namespace: str, teams: TeamTree,
                     preemption_policy: Optional[str] = None) -> list[dict[str, Any]]:
    """One `<namespace>-<tier>` PriorityClass per tier in use (cluster-scoped)."""
    return [priority_class(priority_class_name(namespace, tier), tier,
                           f"airflow-kit task pods of priority tier '{tier}'", preemption_policy)
            for tier in used_tiers(teams)]


def team_priority_classes(settings: Settings) -> list[dict[str, Any]]:
    """One never-preempting `<namespace>-team-<team>` PriorityClass per leaf team."""
    return [priority_class(team_priority_class_name(settings.namespace, team.name), team.priority,
                           f"airflow-kit task pods of team '{team.name}' (priority tier '{team.priority}')", "Never")
            for team in settings.teams.leaves()]


def task_classes(settings: Settings) -> list[str]:
    """Every PriorityClass a task pod of the stack carries: its team's, or a tier's (a task
    that names one itself)."""
    return ([team_priority_class_name(settings.namespace, team.name) for team in settings.teams.leaves()]
            + [priority_class_name(settings.namespace, tier) for tier in used_tiers(settings.teams)])


def _quota(name: str, namespace: str, bounding: list[Team], classes: list[str]) -> dict[str, Any]:
    hard: dict[str, str] = {}
    for resource, key in QUOTA_KEYS.items():
        values = [each.max[resource] for each in bounding if resource in each.max]
        if values:
            hard[key] = sum_quantities(resource, values)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": namespace, "labels": part_of()},
        # Task pods only: the scheduler, API server and workers share the namespace.
        "spec": {"hard": hard, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": classes}]}},
    }


def resource_quota(settings: Settings, team: Optional[Team] = None) -> dict[str, Any]:
    """The stack's namespace: the top-level teams' max added up; a team's own namespace
    (`teamNamespaces`): that team's max."""
    bounding = [team] if team is not None else settings.teams.children(None)
    namespace = settings.task_namespace(team.name) if team is not None else settings.namespace
    return _quota(RESOURCE_QUOTA_NAME, namespace, bounding, task_classes(settings))


def team_quota(settings: Settings, team: Team) -> dict[str, Any]:
    """A team's max over the pods of its leaf teams (itself when it is one), in the stack's
    namespace: each ResourceQuota a pod matches must admit it, so a leaf and all its
    ancestors are held at once."""
    leaves = settings.teams.leaves_under(team.name)
    classes = [team_priority_class_name(settings.namespace, leaf.name) for leaf in leaves]
    return _quota(f"{TEAM_QUOTA_PREFIX}{team.name}", settings.namespace, [team], classes)


def limit_range(settings: Settings, team: Optional[Team] = None) -> dict[str, Any]:
    task = (team or settings.teams.get(settings.default_team)).task_resources
    namespace = settings.task_namespace(team.name) if team is not None else settings.namespace
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": LIMIT_RANGE_NAME, "namespace": namespace, "labels": part_of()},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": task.cpu, "memory": task.memory}}]},
    }


def publish_retries(settings: Settings) -> int:
    configured = settings.airflow.concurrency.task_publish_max_retries
    return configured if configured != 0 else DEFAULT_PUBLISH_RETRIES


def pod_marks(namespace: str, team: Team) -> PodMarks:
    return PodMarks(scheduler_name=SCHEDULER_NAME, labels={TEAM_LABEL: team.name},
                    priority_class_name=team_priority_class_name(namespace, team.name))


def plan(settings: Settings) -> SchedulingPlan:
    core = priority_classes(settings.namespace, settings.teams, preemption_policy="Never")
    core += team_priority_classes(settings)
    core += [resource_quota(settings), limit_range(settings)]
    if settings.team_namespaces:  # each team's namespace bounds its own pods by its max
        for team in settings.teams.leaves():
            core += [resource_quota(settings, team), limit_range(settings, team)]
    else:  # one namespace: a quota per team, selecting its pods by their team PriorityClass
        core += [team_quota(settings, team) for team in settings.teams.depth_first()]
    return SchedulingPlan(
        backend=BACKEND,
        core_objects=tuple(core),
        pod_marks={team.name: pod_marks(settings.namespace, team) for team in settings.teams.leaves()},
        airflow_config={"kubernetes_executor": {"task_publish_max_retries": publish_retries(settings)}},
    )


def notes(settings: Settings) -> tuple[str, ...]:
    if settings.team_namespaces:
        return ("default scheduler: each team's namespace has a ResourceQuota of its max; a parent team's max "
                "over several namespaces is kept only by Airflow's team pools",)
    return (f"default scheduler: ResourceQuotas {TEAM_QUOTA_PREFIX}<team> in {settings.namespace} hold every team's "
            "max (a parent's over its teams); mins are kept only by Airflow's team pools (kube-scheduler lends "
            "nothing back)",)
