"""What every scheduler backend provides, as plain data.

A backend turns the stack's settings (above all the team tree) into a `SchedulingPlan`:
charts to install, objects to create, and the marks a task pod of each team must carry
(scheduler name, labels, annotations, priority class). Pod templates and Job tasks read
only the marks, so adding a backend is adding one module that returns a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class ChartSpec:
    """One Helm chart the kit installs (pure data; `SchedulingLayer` creates it)."""

    release: str
    chart: str
    repository: str
    version: str
    namespace: str
    values: Mapping[str, Any]
    create_namespace: bool = True


@dataclass(frozen=True)
class PodMarks:
    """What puts a pod of one team on the right scheduler, queue/quota and priority."""

    scheduler_name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    priority_class_name: Optional[str] = None
    namespace: Optional[str] = None  # None: the stack's namespace
    # Requests and limits as the colocation batch resources (`kubernetes.io/batch-cpu` in
    # millicores, `kubernetes.io/batch-memory`) instead of cpu/memory: ACK's BE pods.
    batch_resources: bool = False


@dataclass(frozen=True)
class SchedulingPlan:
    backend: str
    charts: tuple[ChartSpec, ...] = ()
    # Objects whose CRDs the charts (or a managed add-on) bring: created after the charts,
    # protected, and retained on delete so a chart upgrade or a stack destroy keeps them.
    custom_resources: tuple[Mapping[str, Any], ...] = ()
    # Built-in objects (PriorityClass, ResourceQuota, LimitRange, ConfigMap, ...).
    core_objects: tuple[Mapping[str, Any], ...] = ()
    pod_marks: Mapping[str, PodMarks] = field(default_factory=dict)  # per leaf team
    airflow_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # [section][key]
