"""The one table of scheduling backends: what the settings, the layers and the benchmark know of
each before its module (airflow_kit_platform/scheduling/<name>.py) renders anything."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendFacts:
    name: str
    # The scheduler a task pod names unless `scheduler.schedulerName` says otherwise.
    scheduler_name: str
    # The kit installs the backend's chart unless `scheduler.install: false` (an existing install).
    installs_chart: bool
    # How long a task may wait for its team's quota (`scheduler.maxQueueWait`): batch schedulers
    # hold pods Pending by design, for hours; kube-scheduler only while no node fits.
    max_queue_wait: str


BACKENDS = {facts.name: facts for facts in (
    BackendFacts("default", scheduler_name="default-scheduler", installs_chart=False, max_queue_wait="30m"),
    BackendFacts("koordinator", scheduler_name="koord-scheduler", installs_chart=True, max_queue_wait="6h"),
    BackendFacts("volcano", scheduler_name="volcano", installs_chart=True, max_queue_wait="6h"),
    # ACK Pro runs no koord-scheduler: its own kube-scheduler carries capacity scheduling.
    BackendFacts("ack", scheduler_name="default-scheduler", installs_chart=False, max_queue_wait="6h"),
)}
