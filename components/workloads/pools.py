"""Airflow pools as code: the stack's pools, imported by a Job after every change of the set.

The design and why: docs/pools.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any, Optional

import pulumi

from airflow_kit_platform.airflow.chart_names import CHART, ChartNames, SecretNames
from airflow_kit_platform.k8s_objects import create_object
from airflow_kit_platform.model.pod_security import AIRFLOW_GID, AIRFLOW_UID
from airflow_kit_platform.settings import Settings

POOLS_FILE = "pools.json"
POOLS_DIR = "/pools"
MIGRATION_WAIT_TIMEOUT = 600  # seconds
JOB_TIMEOUT = "20m"  # how long `pulumi up` waits for the import Job
# Requests AND limits on every container: the pods must pass a namespace ResourceQuota.
RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}


def pools_file(settings: Settings) -> dict[str, dict[str, Any]]:
    """The JSON document `airflow pools import` reads, in the order of `all_pools()`."""
    return {
        pool.name: {"slots": pool.slots, "description": pool.description, "include_deferred": False}
        for pool in settings.all_pools()
    }


def pools_json(settings: Settings) -> str:
    return json.dumps(pools_file(settings), indent=2, sort_keys=True) + "\n"


def pools_hash(settings: Settings) -> str:
    """8 hex chars of the pool set: names, slots, descriptions (not their order)."""
    canonical = json.dumps(pools_file(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _labels(digest: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "airflow-pools",
        "app.kubernetes.io/component": "pools-sync",
        "app.kubernetes.io/managed-by": "airflow-kit",
        "airflow-kit/pools-hash": digest,
    }


def _env() -> list[dict[str, Any]]:
    """The chart's database variable (its migrate job gets the same from the same Secret)."""
    return [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
         "valueFrom": {"secretKeyRef": {"name": SecretNames.metadata, "key": "connection"}}},
    ]


def pools_job_manifests(settings: Settings, names: ChartNames = CHART) -> list[dict[str, Any]]:
    """[ConfigMap with pools.json, Job importing it], both named `<release>-pools-<hash>`."""
    digest = pools_hash(settings)
    name = f"{names.release}-pools-{digest}"
    labels = _labels(digest)
    image = f"{settings.airflow.image_repository}:{settings.airflow.image_tag}"

    def container(container_name: str, args: list[str]) -> dict[str, Any]:
        return {
            "name": container_name,
            "image": image,
            "args": args,
            "env": _env(),
            "resources": copy.deepcopy(RESOURCES),
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }

    importer = container("import-pools", ["airflow", "pools", "import", f"{POOLS_DIR}/{POOLS_FILE}"])
    importer["volumeMounts"] = [{"name": "pools", "mountPath": POOLS_DIR, "readOnly": True}]
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": dict(labels)},
        "immutable": True,
        "data": {POOLS_FILE: pools_json(settings)},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": names.migrate_database_job_service_account,
                    "securityContext": {"runAsUser": AIRFLOW_UID, "fsGroup": AIRFLOW_GID},
                    # Like the chart's components: wait until the migrate job has done its work.
                    "initContainers": [container("wait-for-airflow-migrations", [
                        "airflow", "db", "check-migrations", f"--migration-wait-timeout={MIGRATION_WAIT_TIMEOUT}"])],
                    "containers": [importer],
                    "volumes": [{"name": "pools", "configMap": {"name": name}}],
                },
            },
        },
    }
    return [configmap, job]


class PoolsSync(pulumi.ComponentResource):
    """The pools ConfigMap and import Job (nothing when the kit does not install Airflow)."""

    def __init__(self, name: str, settings: Settings, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:workloads:PoolsSync", name, None, opts)
        self.resources: list[pulumi.Resource] = []
        self.job_name: Optional[str] = None
        if settings.airflow.install:
            configmap, job = pools_job_manifests(settings)
            self.job_name = job["metadata"]["name"]
            created = create_object(configmap, opts=pulumi.ResourceOptions(parent=self))
            self.resources = [created, create_object(job, opts=pulumi.ResourceOptions(
                parent=self, depends_on=[created],
                # The name carries the pool set; image bumps need no new import.
                ignore_changes=["spec"],
                # Pulumi waits for the Job to complete (10 min by default); the init container
                # alone may wait MIGRATION_WAIT_TIMEOUT for the migrations.
                custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT, update=JOB_TIMEOUT)))]
        self.register_outputs({
            "pools": [pool.name for pool in settings.all_pools()],
            "job": self.job_name,
        })
