"""Shared cases for the workloads tests (unit and contract): a stack with every feature, and the
pod marks of each scheduler backend, written by hand in the shapes the backends produce (FACTS.md).
The templates read only the `PodMarks` dataclass, so these tests do not depend on the backend modules.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

from airflow_kit_platform.scheduling.backend import PodMarks
from airflow_kit_platform.settings import Settings, load_settings

FULL_STACK: dict[str, Any] = {
    "namespace": "data-airflow",
    "airflow": {
        "executors": ["CeleryExecutor", "KubernetesExecutor"],
        "image": {"repository": "registry.example.com/airflow", "tag": "3.1.7-kit1"},
        "dagSource": "gitSync",
        "gitSync": {"repo": "https://git.example.com/dags.git", "branch": "release", "subPath": "dags",
                    "credentialsSecret": "git-credentials"},
    },
    "scheduler": {"backend": "default"},
    "localDisk": {"storageClass": "open-local-lvm", "mountPath": "/scratch", "maxSize": "200Gi"},
    "teams": [
        {"name": "platform", "min": {"cpu": "16", "memory": "64Gi"}, "max": {"cpu": "32", "memory": "128Gi"}},
        {"name": "etl", "parent": "platform", "min": {"cpu": "8", "memory": "32Gi"},
         "max": {"cpu": "16", "memory": "64Gi"}, "priority": "batch",
         "image": "registry.example.com/etl/airflow-worker:2.3.1",
         "businessImage": "registry.example.com/etl/base:2.3.1",
         "taskResources": {"cpu": "2", "memory": "4Gi", "memoryLimit": "6Gi"},
         "nodeSelector": {"node-pool": "batch"},
         "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}]},
        {"name": "ml", "parent": "platform", "min": {"cpu": "4", "memory": "16Gi"},
         "max": {"cpu": "16", "memory": "64Gi"},
         "businessImage": "registry.example.com/ml/train-base:0.9.0",
         "taskResources": {"cpu": "4", "memory": "16Gi"}},
        {"name": "reporting", "min": {"cpu": "1", "memory": "2Gi"}, "max": {"cpu": "4", "memory": "8Gi"},
         "priority": "prod"},
    ],
    "defaultTeam": "reporting",
}
LEAVES = ("etl", "ml", "reporting")


def make_settings(overrides: Mapping[str, Any] | None = None, drop: tuple[str, ...] = (),
                  stack: str = "unit") -> Settings:
    raw = copy.deepcopy(FULL_STACK)
    for key in drop:
        raw.pop(key, None)
    raw.update(copy.deepcopy(dict(overrides or {})))
    return load_settings(stack, raw)


def koordinator_marks(team: str) -> PodMarks:
    return PodMarks(scheduler_name="koord-scheduler",
                    labels={"quota.scheduling.koordinator.sh/name": team, "koordinator.sh/qosClass": "BE"},
                    priority_class_name="koord-batch")


def volcano_marks(team: str) -> PodMarks:
    return PodMarks(scheduler_name="volcano", annotations={"scheduling.volcano.sh/queue-name": team},
                    priority_class_name="airflow-kit-mid")


def default_marks(team: str) -> PodMarks:
    return PodMarks(scheduler_name="default-scheduler")


MARK_STYLES: dict[str, Callable[[str], PodMarks]] = {
    "koordinator": koordinator_marks,
    "volcano": volcano_marks,
    "default": default_marks,
}


def marks_for(settings: Settings, style: str) -> dict[str, PodMarks]:
    return {team.name: MARK_STYLES[style](team.name) for team in settings.teams.leaves()}

