"""Probe: work in flight on every path at once, to see the platform ride out a restart.

Trigger it, then restart (or kill) a component: a KubernetesExecutor task in the team's pod, a
Celery task and a deferred task (the triggerer holds it) run until `seconds` after the run
started and end by themselves: they overlap, and the run does not last a pod start longer.
Every run must end `success`, reruns only within `retries`. The fault tier (tests/faults) does
exactly this for each component; `kit_fault_oom` shows what a user sees
when a task outgrows its memory limit; `kit_fault_stream` keeps a scheduler busy, to see how
long scheduling stops when one of several schedulers dies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, Param, task

from airflow_kit import load_catalog, on_kubernetes

catalog = load_catalog()
TEAM = sorted(catalog.teams)[0]


# Every task runs at least this long itself, however late it starts (a rerun, a slow pod start).
MIN_OWN_SECONDS = 10


def busy(seconds: str, since: str, where: str) -> str:
    """Sleep in steps until `seconds` after `since` (the run's start), printing each step, so a
    log shows how far the task got."""
    import time

    until = max(float(since) + int(seconds), time.time() + MIN_OWN_SECONDS)  # rendered templates
    while (left := until - time.time()) > 0:
        print(f"{where}: {left:.0f} s to go", flush=True)
        time.sleep(min(5, left))
    return where


with DAG(
    dag_id="kit_fault_probe",
    description="A KubernetesExecutor task, a Celery task and a deferred task in flight together",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=4,
    params={"seconds": Param(45, type="integer", minimum=5, maximum=3600)},
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["airflow-kit", "probe"],
):
    since = "{{ dag_run.start_date.timestamp() }}"
    task(busy, task_id="in_team_pod", **on_kubernetes(TEAM))(seconds="{{ params.seconds }}", since=since,
                                                              where="team pod")
    task(busy, task_id="on_celery")(seconds="{{ params.seconds }}", since=since, where="celery")
    # Deferred: the triggerer waits until the same point (a retry past it succeeds at once).
    DateTimeSensorAsync(
        task_id="deferred",
        target_time="{{ (dag_run.start_date + macros.timedelta(seconds=params.seconds)).isoformat() }}")


def outgrow(megabytes: int) -> None:
    """Allocate past the pod's memory limit: the kernel's OOM killer ends the task process."""
    chunks = []
    for _ in range(megabytes):
        chunks.append(bytearray(1024 * 1024))
    print(f"allocated {len(chunks)} MiB")


with DAG(
    dag_id="kit_fault_oom",
    description="A task past its memory limit: OOM-killed, and its log says so",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "probe"],
):
    # No retry: the point is the one failure and what its log says (the team may set retries).
    task(outgrow, task_id="outgrow", **{**on_kubernetes(TEAM, memory="512Mi"), "retries": 0})(megabytes=4096)


def tick(index: int) -> int:
    import time

    time.sleep(2)
    return index


with DAG(
    dag_id="kit_fault_stream",
    description="A steady stream of short tasks: how long scheduling stops when a scheduler dies",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=4,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["airflow-kit", "probe"],
):
    task(tick, task_id="tick").expand(index=list(range(40)))
