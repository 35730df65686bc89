"""What a task pod may do: the Pod Security level of each namespace the kit creates, the user
and security context a task runs with, and the account it runs as (no Kubernetes API access in
the stack's namespace). Why, and what each decision's test is: docs/least-privilege.md.
"""

from __future__ import annotations

from typing import Any

from airflow_kit_platform.model.names import part_of

# The official image's airflow user and group (the chart's `uid`/`gid` defaults).
AIRFLOW_UID = 50000
AIRFLOW_GID = 0

TASK_SERVICE_ACCOUNT = "airflow-kit-task"
STACK_NAMESPACE_LEVEL = "baseline"
TEAM_NAMESPACE_LEVEL = "restricted"
_PSA = "pod-security.kubernetes.io"


def namespace_labels(level: str) -> dict[str, str]:
    """Pod Security Admission labels: enforce `level`, warn and audit `restricted`."""
    return {f"{_PSA}/enforce": level, f"{_PSA}/warn": "restricted", f"{_PSA}/audit": "restricted"}


def task_pod_security_context() -> dict[str, Any]:
    """The pod-level security context of every task pod the kit templates (`restricted`)."""
    return {"runAsNonRoot": True, "runAsUser": AIRFLOW_UID, "fsGroup": AIRFLOW_GID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def task_container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def task_service_account(namespace: str) -> dict[str, Any]:
    """The task pods' account in the stack's namespace: bound to nothing, token not mounted."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": TASK_SERVICE_ACCOUNT, "namespace": namespace, "labels": part_of()},
            "automountServiceAccountToken": False}
