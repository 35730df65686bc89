"""The `keda` block: Celery workers scaled to zero by KEDA."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from airflow_kit_platform.config_reader import Section
from airflow_kit_platform.settings.airflow import AirflowSettings
from airflow_kit_platform.settings.common import chart_values_need_install


@dataclass(frozen=True)
class Keda:
    enabled: bool = False
    install: bool = True
    min_replicas: int = 0
    max_replicas: int = 10
    polling_interval: int = 5
    cooldown_period: int = 30
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # KEDA's chart, when the kit installs it


def read_keda(section: Section, airflow: AirflowSettings) -> Keda:
    keda = Keda(
        enabled=section.boolean("enabled", Keda.enabled),
        install=section.boolean("install", Keda.install),
        min_replicas=section.integer("minReplicas", Keda.min_replicas, minimum=0),
        max_replicas=section.integer("maxReplicas", Keda.max_replicas, minimum=1),
        polling_interval=section.integer("pollingInterval", Keda.polling_interval, minimum=1),
        cooldown_period=section.integer("cooldownPeriod", Keda.cooldown_period, minimum=0),
        chart_values=section.mapping("chartValues"),
    )
    chart_values_need_install(section, keda.chart_values, keda.enabled and keda.install, "keda.enabled and keda.install")
    if keda.min_replicas > keda.max_replicas:
        raise section.error("minReplicas", keda.min_replicas, f"must not exceed maxReplicas ({keda.max_replicas})")
    if keda.enabled and "CeleryExecutor" not in airflow.executors:
        raise section.error("enabled", True, "KEDA scales Celery workers: airflow.executors must include CeleryExecutor")
    section.finish()
    return keda
