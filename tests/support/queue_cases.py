"""Settings and scheduling plans for the queue and pools tests."""

from __future__ import annotations

import copy
from typing import Any

from airflow_kit_platform.scheduling.backend import SchedulingPlan
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import Settings, load_settings

TEAMS = [
    {"name": "platform", "min": {"cpu": "16", "memory": "64Gi"}, "max": {"cpu": "32", "memory": "128Gi"}},
    {"name": "etl", "parent": "platform", "min": {"cpu": "8", "memory": "32Gi"},
     "max": {"cpu": "16", "memory": "64Gi"}, "priority": "batch", "overcommit": True, "poolSlots": 32},
    {"name": "ml", "parent": "platform", "min": {"cpu": "8", "memory": "32Gi"},
     "max": {"cpu": "16", "memory": "64Gi"}, "priority": "mid"},
]


def raw_config(backend: str = "koord-queue", **overrides: Any) -> dict[str, Any]:
    """A stack with queue backend `backend`; keyword arguments replace top-level config keys."""
    raw: dict[str, Any] = {
        "scheduler": {"backend": "koordinator", "install": True, "imageRegistry": "registry.example.com"},
        "queue": {"backend": backend},
        "teams": copy.deepcopy(TEAMS),
    }
    if backend == "none":
        raw["scheduler"] = {"backend": "default", "install": False}
    if backend == "ack":  # ACK's kube-queue routes Jobs to the leaves of ACK's ElasticQuotaTree
        raw["scheduler"] = {"backend": "ack"}
    raw.update(overrides)
    return raw


def settings_for(backend: str = "koord-queue", stack: str = "test", **overrides: Any) -> Settings:
    return load_settings(stack, raw_config(backend, **overrides))


def scheduling_plan_for(settings: Settings) -> SchedulingPlan:
    return scheduling_plan(settings)
