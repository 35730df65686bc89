"""DAG-author helpers of airflow-kit (importable from DAGs: the dags folder is on sys.path).

    from airflow_kit import on_kubernetes, kubernetes_job, QueuedKubernetesJobOperator

* ``on_kubernetes(team, cpu=, memory=, local_disk=, ...)``: operator kwargs that run a task on the
  KubernetesExecutor with the team's pod template, image, scheduler marks and full resources.
* ``QueuedKubernetesJobOperator`` / ``kubernetes_job(team, ...)``: a KubernetesJobOperator whose Job
  goes through the stack's job queue (koord-queue / ACK kube-queue) and is waited for until admitted.

The team catalog is ``teams.json`` in ``/opt/airflow/kit-pod-templates`` (env
``AIRFLOW_KIT_POD_TEMPLATES_DIR``). The Job operator is imported lazily, so DAGs that only use
``on_kubernetes`` do not pay for the cncf.kubernetes operator imports at parse time.
"""

from __future__ import annotations

from typing import Any

from airflow_kit.catalog import (
    AirflowKitError,
    CatalogError,
    InvalidQuantityError,
    LocalDiskNotAvailableError,
    UnknownTeamError,
    load_catalog,
)
from airflow_kit.executor import on_kubernetes

__all__ = [
    "AirflowKitError",
    "CatalogError",
    "InvalidQuantityError",
    "JobAdmissionError",
    "JobAdmissionTimeout",
    "LocalDiskNotAvailableError",
    "QueuedKubernetesJobOperator",
    "UnknownTeamError",
    "kubernetes_job",
    "load_catalog",
    "on_kubernetes",
]

_LAZY = {"QueuedKubernetesJobOperator", "kubernetes_job", "JobAdmissionError", "JobAdmissionTimeout"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from airflow_kit import job

        return getattr(job, name)
    raise AttributeError(f"module 'airflow_kit' has no attribute {name!r}")
