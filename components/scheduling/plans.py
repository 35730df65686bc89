"""Pick the scheduling backend of a stack: `scheduler.backend` -> that module's plan.

A backend is a module with `plan(settings) -> SchedulingPlan`,
`notes(settings) -> tuple[str, ...]` (what the kit could not do for this stack and the
operator should know); optionally `outputs(settings) -> dict` (its own stack outputs) and
`exports(settings) -> {path: text}` (files for the cluster's admin); one that relies on add-ons
it does not install also has a pre-flight (PREFLIGHTS). Adding a backend
is one module, one entry in BACKEND_MODULES and its row in the table of backends
(components/model/backends.py; a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import Any, Callable, Mapping, Optional

from airflow_kit_platform.model.names import TEAM_LABEL
from airflow_kit_platform.passthrough import merge_under
from airflow_kit_platform.scheduling import ack, ack_preflight, default, koordinator, volcano
from airflow_kit_platform.scheduling.backend import SchedulingPlan
from airflow_kit_platform.settings import Settings

# Custom resources that stand for one team's share (what other layers call its queue).
QUEUE_KINDS = ("Queue", "ElasticQuota", "ElasticQuotaTree")

# Backends that rely on add-ons they do not install check the cluster before anything is created.
PREFLIGHTS = {"ack": ack_preflight.preflight}

BACKEND_MODULES: dict[str, ModuleType] = {
    "default": default,
    "koordinator": koordinator,
    "volcano": volcano,
    "ack": ack,
}


def backend_module(settings: Settings) -> ModuleType:
    try:
        return BACKEND_MODULES[settings.scheduler.backend]
    except KeyError:  # settings validates the name; this guards a backend added there only
        raise ValueError(f"no scheduling backend module for {settings.scheduler.backend!r}; "
                         f"known: {', '.join(BACKEND_MODULES)}") from None


def scheduling_plan(settings: Settings) -> SchedulingPlan:
    """The backend's plan; with `teamNamespaces`, every team's pods carry their namespace
    (whatever the backend: the DAG helper's pod_override puts the pod there)."""
    plan = backend_module(settings).plan(settings)
    if settings.scheduler.chart_values:
        plan = replace(plan, charts=tuple(
            replace(chart, values=merge_under(chart.values, settings.scheduler.chart_values, stack=settings.stack,
                                              key="scheduler.chartValues"))
            for chart in plan.charts))
    if settings.team_namespaces:
        plan = replace(plan, pod_marks={team: replace(marks, namespace=settings.task_namespace(team))
                                        for team, marks in plan.pod_marks.items()})
    return plan


def scheduling_notes(settings: Settings) -> tuple[str, ...]:
    return tuple(backend_module(settings).notes(settings))


def scheduling_preflight(settings: Settings) -> Optional[Callable[[Settings, Any], list[str]]]:
    """The backend's cluster check (`preflight(settings, cluster) -> problems`), None when it has none."""
    return PREFLIGHTS.get(settings.scheduler.backend)


def scheduling_exports(settings: Settings) -> dict[str, str]:
    """Files the backend writes for the cluster's admin (path under the project -> text): its
    optional `exports(settings)`."""
    return _optional_hook(settings, "exports")


def scheduling_outputs(settings: Settings) -> dict[str, Any]:
    """The backend's own stack outputs (ACK: the quota subtree for the tree's admin): its optional
    `outputs(settings)`."""
    return _optional_hook(settings, "outputs")


def _optional_hook(settings: Settings, name: str) -> dict:
    hook = getattr(backend_module(settings), name, None)
    return dict(hook(settings)) if hook is not None else {}


def with_quota_labels(plan: SchedulingPlan, labels: Mapping[str, Mapping[str, str]]) -> SchedulingPlan:
    """The plan with extra labels on each team's queue/quota (by its team label).

    For layers that key off the team's quota, e.g. koord-queue's per-quota queue policy
    (QueuePlan.quota_labels). The scheduling labels themselves cannot be overridden.
    """
    if not labels:
        return plan
    resources = []
    for manifest in plan.custom_resources:
        team = (manifest["metadata"].get("labels") or {}).get(TEAM_LABEL)
        extra = labels.get(team) if manifest["kind"] in QUEUE_KINDS and team is not None else None
        if extra:
            metadata = dict(manifest["metadata"])
            metadata["labels"] = {**extra, **metadata["labels"]}
            manifest = {**manifest, "metadata": metadata}
        resources.append(manifest)
    return replace(plan, custom_resources=tuple(resources))
