"""Celery workers without the metadata database and the Fernet key.

A Celery worker runs every team's business code in one process tree. Airflow 3 workers do not
need the database: a task reads Connections, Variables and XComs and reports its state through
the Execution API with its own token, and `airflow celery worker` no longer checks the database
(the Celery provider's `check_db=not AIRFLOW_V_3_0_PLUS`). So the kit keeps from them what the
chart gives every Airflow component:

* the env vars holding the metadata database URL and the Fernet key (removed from the worker's
  containers; the chart renders them for all components alike, so a transform on the chart's
  worker Deployment/StatefulSet takes them out, and the worker does not wait for migrations);
* the Celery result backend in that database: results go to the stack's Redis (database 1; the
  broker uses 0), which the worker reaches already;
* KEDA's query of the database, which the chart reads from the worker's env
  (`connectionFromEnv`): the kit's TriggerAuthentication hands KEDA the metadata Secret instead.

The worker keeps the broker URL, the API and JWT secrets (its log server checks the API server's
signed log requests) and its Execution API address.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional

from airflow_kit_platform.airflow.chart_names import SecretNames
from airflow_kit_platform.model.names import part_of

# The chart's env vars with the database URL or the Fernet key (`standard_airflow_environment`).
WORKER_DROPPED_ENV = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
                      "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_AIRFLOW_DB", "KEDA_DB_CONN")
KEDA_DB_AUTHENTICATION = "airflow-kit-keda-db"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# Pulumi's wait for a worker to go, past the chart's grace period (workers.terminationGracePeriodSeconds 600).
WORKER_DELETE_TIMEOUT = "15m"


def is_celery_worker(manifest: Mapping[str, Any]) -> bool:
    labels = manifest.get("metadata", {}).get("labels") or {}
    return manifest.get("kind") in WORKLOAD_KINDS and labels.get("component") == "worker"


def without_metadata_secrets(manifest: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The chart's Celery worker workload without the database and Fernet env vars (None: not
    a worker, or nothing to take out)."""
    if not is_celery_worker(manifest):
        return None
    changed = copy.deepcopy(dict(manifest))
    pod = changed.get("spec", {}).get("template", {}).get("spec", {})
    removed = False
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        env = container.get("env") or []
        kept = [item for item in env if item.get("name") not in WORKER_DROPPED_ENV]
        if len(kept) != len(env):
            container["env"] = kept
            removed = True
    return changed if removed else None


def keda_with_secret_authentication(manifest: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The chart's ScaledObject for the workers, its database trigger authenticated by the kit's
    TriggerAuthentication instead of the worker's env (None: not that object)."""
    if manifest.get("kind") != "ScaledObject" or not str(manifest.get("apiVersion", "")).startswith("keda.sh/"):
        return None
    changed = copy.deepcopy(dict(manifest))
    triggers = changed.get("spec", {}).get("triggers") or []
    touched = False
    for trigger in triggers:
        metadata = trigger.get("metadata") or {}
        if "connectionFromEnv" in metadata or "connectionStringFromEnv" in metadata:
            metadata.pop("connectionFromEnv", None)
            metadata.pop("connectionStringFromEnv", None)
            trigger["authenticationRef"] = {"name": KEDA_DB_AUTHENTICATION}
            touched = True
    return changed if touched else None


def keda_db_authentication(namespace: str) -> dict[str, Any]:
    """KEDA reads the metadata connection from its Secret (KEDA's operator may read Secrets)."""
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": KEDA_DB_AUTHENTICATION, "namespace": namespace, "labels": part_of()},
            "spec": {"secretTargetRef": [{"parameter": "connection", "name": SecretNames.metadata,
                                          "key": "connection"}]}}
