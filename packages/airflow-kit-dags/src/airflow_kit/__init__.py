"""DAG-author helpers of airflow-kit (distribution ``airflow-kit-dags``, installed in every image).

    from airflow_kit import on_kubernetes, kubernetes_job, QueuedKubernetesJobOperator

* ``on_kubernetes(team, cpu=, memory=, local_disk=, ...)``: operator kwargs that run a task on the
  KubernetesExecutor with the team's pod template, image, scheduler marks and full resources.
* ``QueuedKubernetesJobOperator`` / ``kubernetes_job(team, ...)``: a KubernetesJobOperator whose Job
  goes through the stack's job queue (koord-queue / ACK kube-queue) and is waited for until admitted.

The team catalog is ``teams.json`` in ``/opt/airflow/kit-pod-templates`` (env
``AIRFLOW_KIT_POD_TEMPLATES_DIR``); where it is not mounted, DAG files still import and the tasks
built from it fail when they run (``CatalogError``). ``airflow_kit.names`` holds the names the kit's
Pulumi side shares with this package.

Every name here is imported on first use (PEP 562): ``import airflow_kit.names`` loads nothing
else (no Kubernetes client, no Airflow), and DAGs that only use ``on_kubernetes`` do not pay for
the cncf.kubernetes operator imports at parse time.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_MODULE_OF = {
    "AirflowKitError": "catalog",
    "CatalogError": "catalog",
    "InvalidQuantityError": "catalog",
    "LocalDiskNotAvailableError": "catalog",
    "UnknownTeamError": "catalog",
    "load_catalog": "catalog",
    "on_kubernetes": "executor",
    "QueuedKubernetesJobOperator": "job",
    "kubernetes_job": "job",
    "JobAdmissionError": "job",
    "JobAdmissionTimeout": "job",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'airflow_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"airflow_kit.{module}"), name)
    globals()[name] = value  # once resolved, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
