"""What a task pod may do: the Pod Security level of each namespace the kit creates, the user
and security context a task runs with, and the ServiceAccount it runs as.

A task runs business code next to Airflow. It needs the Execution API (a token in its args, no
Kubernetes credentials) and its logs; it must not read Airflow's Secrets, exec into the scheduler
or start pods beside it. So:

* The stack's namespace enforces Pod Security `baseline` (the chart's pods and the bundled
  database need no more) and warns and audits `restricted`; a team namespace holds task pods
  only and enforces `restricted`. A pod that asks for privileges is refused at creation.
* Every task pod passes `restricted`: non-root (the image's airflow user), the runtime's
  default seccomp profile, no privilege escalation, every capability dropped.
* In the stack's namespace a task pod runs as `airflow-kit-task`: no Role, no token mounted,
  so it has no Kubernetes API access at all. Before, task pods ran as the chart's worker account,
  whose Role lets it create pods and exec into them: into the scheduler, whose environment holds
  the Fernet key and the database URL. A task that launches pods or Jobs (KubernetesPodOperator,
  the queued Job operator) runs on a Celery worker, or in a team namespace (`teamNamespaces`),
  where the worker account's Role reaches that namespace only and no Airflow Secret lives.
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
