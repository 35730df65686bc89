"""The logs volume (`airflow.logsVolume`): one place for every component's and task's logs, so a
KubernetesExecutor task's log stays readable in the UI and API after its pod is gone.

A claim lives in one namespace. Without `source`, one claim in the stack's namespace from a
StorageClass (tasks must run there). With `source` (an NFS export, a NAS or other CSI volume,
a hostPath on one node), every namespace that runs tasks gets its own claim `airflow-kit-logs`,
each bound to a PersistentVolume of its own on that same storage: the API server in the stack's
namespace reads the files a team pod wrote in `<namespace>-<team>` (`teamNamespaces`). The
volumes are `Retain`: destroying the stack leaves the logs on the share.
"""

from __future__ import annotations

from typing import Any, Optional

from airflow_kit_platform.airflow.chart_names import LOGS_VOLUME_CLAIM
from airflow_kit_platform.settings import Settings

MANAGED_BY = {"app.kubernetes.io/managed-by": "airflow-kit"}


def logs_persistent_volume_name(namespace: str) -> str:
    return f"{namespace}-{LOGS_VOLUME_CLAIM}"  # the namespace is unique on the cluster, so is this


def logs_persistent_volume(settings: Settings, namespace: str) -> Optional[dict[str, Any]]:
    """The PersistentVolume one namespace's claim binds to (None without `source`)."""
    volume = settings.airflow.logs_volume
    if volume is None or volume.source is None:
        return None
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": logs_persistent_volume_name(namespace), "labels": dict(MANAGED_BY)},
            "spec": {"capacity": {"storage": volume.size}, "accessModes": [volume.access_mode],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                     "claimRef": {"namespace": namespace, "name": LOGS_VOLUME_CLAIM},
                     **{kind: dict(fields) for kind, fields in volume.source.items()}}}


def logs_claim(settings: Settings, namespace: str) -> dict[str, Any]:
    volume = settings.airflow.logs_volume
    assert volume is not None
    spec: dict[str, Any] = {"accessModes": [volume.access_mode], "resources": {"requests": {"storage": volume.size}}}
    if volume.source is not None:
        spec.update(storageClassName="", volumeName=logs_persistent_volume_name(namespace))
    elif volume.storage_class:
        spec["storageClassName"] = volume.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": LOGS_VOLUME_CLAIM, "namespace": namespace, "labels": dict(MANAGED_BY),
                         # WaitForFirstConsumer classes bind when the first component starts.
                         "annotations": {"pulumi.com/skipAwait": "true"}},
            "spec": spec}


def logs_volume_objects(settings: Settings, namespace: str) -> list[dict[str, Any]]:
    """The claim of one namespace, after its PersistentVolume when there is one (none without logsVolume)."""
    if settings.airflow.logs_volume is None:
        return []
    persistent_volume = logs_persistent_volume(settings, namespace)
    return ([persistent_volume] if persistent_volume else []) + [logs_claim(settings, namespace)]
