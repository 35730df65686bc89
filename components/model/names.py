"""The vocabulary every backend and layer shares: the labels and annotations the kit puts on what
it creates, and the cluster-wide names of a stack's objects."""

from __future__ import annotations

from typing import Mapping

from airflow_kit import names
from airflow_kit_platform.config_reader import ConfigError

# Every task pod carries its team in this label, whatever the backend.
TEAM_LABEL = names.TEAM_LABEL  # shared with the DAG helper (airflow_kit.names)
# Set by the API server on every namespace: selects one namespace by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# On every object the kit creates for scheduling, so `kubectl get ... -l` finds them.
PART_OF_LABELS = {"app.kubernetes.io/part-of": "airflow-kit"}
# On a core object that is not created on its own but merged into the same object
# rendered by the named chart release (see layer.py, "Chart-owned configuration").
CHART_OVERRIDE_ANNOTATION = "airflow-kit/chart-override"
# Label KubernetesExecutor puts on every worker pod it creates.
EXECUTOR_POD_LABEL = ("kubernetes_executor", "True")

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
