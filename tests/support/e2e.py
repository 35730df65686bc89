"""What the e2e tier's cases share: the Airflow block of their stacks and kubectl reads."""

from __future__ import annotations

import json

AIRFLOW = {"chart": {"install": False}, "executors": ["CeleryExecutor", "KubernetesExecutor"],
           "concurrency": {"maxActiveTasksPerDag": 8, "workerConcurrency": 4}}  # parallelism: sized by the kit


def names(cluster, kind: str, namespace: str | None = None) -> set[str]:
    args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else [])
    items = json.loads(cluster.kubectl(*args).stdout)["items"]
    return {item["metadata"]["name"] for item in items}


def get(cluster, kind: str, name: str, namespace: str | None = None) -> dict:
    args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
    return json.loads(cluster.kubectl(*args).stdout)
