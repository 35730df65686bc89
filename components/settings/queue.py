"""The `queue` block: the job queue (koord-queue, ACK kube-queue) for suspended Job tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from airflow_kit import names
from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import Section
from airflow_kit_platform.model.backends import BACKENDS, QUEUE_NEEDS
from airflow_kit_platform.settings.common import chart_values_need_install
from airflow_kit_platform.settings.scheduler import SchedulerSettings

QUEUE_BACKENDS = names.QUEUE_BACKENDS  # teams.json carries it to the DAG helper



@dataclass(frozen=True)
class QueueSettings:
    backend: str = "none"
    install: bool = True
    chart_version: str = versions.KOORD_QUEUE_CHART_VERSION
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # koord-queue's chart, when installed


def read_queue(section: Section, scheduler: SchedulerSettings) -> QueueSettings:
    backend = section.choice("backend", QUEUE_BACKENDS, QueueSettings.backend)
    queue = QueueSettings(
        backend=backend,
        install=section.boolean("install", backend == "koord-queue"),
        chart_version=section.string("chartVersion", QueueSettings.chart_version),
        chart_values=section.mapping("chartValues"),
    )
    chart_values_need_install(section, queue.chart_values, backend == "koord-queue" and queue.install,
                               "queue.backend koord-queue with queue.install")
    needs = QUEUE_NEEDS.get(backend)
    if needs is not None and scheduler.backend != needs[0]:
        raise section.error("backend", backend, f"{needs[1]}: needs scheduler.backend {needs[0]} (or queue.backend none)")
    managed = BACKENDS[scheduler.backend].managed_queues.get(backend)
    if managed and queue.install:
        raise section.error("install", True, managed)
    section.finish()
    return queue
