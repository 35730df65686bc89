"""Scheduling: the team tree and the backends that render it.

`teams.py` is the one team model; `backend.py` the plan every backend returns;
`default.py`, `koordinator.py`, `volcano.py`, `ack.py` the backends (pure builders);
`plans.py` picks one by `scheduler.backend`; `layer.py` creates the plan's resources.

This file holds only the vocabulary the backends share. It must stay free of imports
from `airflow_kit_platform.settings` (settings imports `airflow_kit_platform.scheduling.teams`, which runs
this file first) and of Pulumi.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Iterable, Mapping

from airflow_kit import names
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.quantities import parse_quantity

# Every task pod carries its team in this label, whatever the backend.
TEAM_LABEL = names.TEAM_LABEL  # shared with the DAG helper (airflow_kit.names)
# On every object the kit creates for scheduling, so `kubectl get ... -l` finds them.
PART_OF_LABELS = {"app.kubernetes.io/part-of": "airflow-kit"}
# On a core object that is not created on its own but merged into the same object
# rendered by the named chart release (see layer.py, "Chart-owned configuration").
CHART_OVERRIDE_ANNOTATION = "airflow-kit/chart-override"
# Label KubernetesExecutor puts on every worker pod it creates.
EXECUTOR_POD_LABEL = ("kubernetes_executor", "True")

# Byte units tried in order: the first that divides the value exactly names it.
_BYTE_UNITS = (("Ti", Decimal(2) ** 40), ("Gi", Decimal(2) ** 30), ("Mi", Decimal(2) ** 20),
               ("T", Decimal(10) ** 12), ("G", Decimal(10) ** 9), ("M", Decimal(10) ** 6),
               ("Ki", Decimal(2) ** 10), ("k", Decimal(10) ** 3))


def cluster_name(namespace: str, name: str) -> str:
    """The name of an object all stacks on a cluster draw from one set of names for: the
    cluster-scoped ones (PriorityClasses, Volcano Queues) and Koordinator's quotas (its
    scheduler keys them by name alone, whatever their namespace). The stack's namespace, which
    no two stacks on a cluster can share, comes first: two stacks never claim the same object."""
    return f"{namespace}-{name}"


LABEL_VALUE_MAX = 63  # a Kubernetes label value


def require_label_value(stack: str, team: str, name: str, what: str, reader: str) -> None:
    """A `<namespace>-<team>` name that objects carry in a label value must fit one."""
    if len(name) > LABEL_VALUE_MAX:
        raise ConfigError(stack, f"teams[{team}].name", team,
                          f"its {what} '{name}' (namespace-team) is {len(name)} characters; {reader} in a label "
                          f"value, at most {LABEL_VALUE_MAX}: shorten the team or the namespace")


def part_of(extra: Mapping[str, str] = {}) -> dict[str, str]:
    return {**PART_OF_LABELS, **extra}


def format_quantity(resource: str, value: Decimal) -> str:
    """A quantity in base units (cores, bytes, devices) as a short Kubernetes quantity."""
    if resource == "cpu":
        if value == value.to_integral_value():
            return str(int(value))
        return f"{int((value * 1000).to_integral_value(rounding=ROUND_CEILING))}m"
    if resource in ("memory", "ephemeral-storage"):
        for unit, factor in _BYTE_UNITS:
            if value >= factor and value % factor == 0:
                return f"{int(value / factor)}{unit}"
        return str(int(value.to_integral_value(rounding=ROUND_CEILING)))
    return str(int(value.to_integral_value(rounding=ROUND_CEILING)))


def sum_quantities(resource: str, values: Iterable[str]) -> str:
    total = sum((parse_quantity(value) for value in values), Decimal(0))
    return format_quantity(resource, total)
