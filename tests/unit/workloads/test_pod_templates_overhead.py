"""Pods and memory per standard task: fused image vs KubernetesPodOperator vs Celery.

The figures are printed in the run's "airflow-kit measurements" section. The Airflow task
process memory is the value measured here (the claim was 250-280 MB).
"""

from __future__ import annotations

import pathlib
import pytest

from airflow_kit_platform.quantities import parse_quantity
from airflow_kit_platform.workloads.overhead import MI, standard_task_footprints
from airflow_kit_platform.workloads.worker_image import load_stack_settings

REPO = pathlib.Path(__file__).resolve().parents[3]
MEASURED_TASK_PROCESS = "274Mi"  # peak RSS of `airflow tasks test` here (tests/dags prints it each run)


def test_pods_per_task_and_requests():
    fused, kpo, celery = standard_task_footprints(team_memory_request="1Gi", airflow_task_memory="265M",
                                                  worker_concurrency=16, celery_worker_memory_request="8Gi",
                                                  kpo_worker_memory_request="0")
    assert (fused.pods_per_task, kpo.pods_per_task, celery.pods_per_task) == (1, 2, 0)
    assert fused.requested_memory == 1024 * MI
    assert kpo.requested_memory == 1024 * MI  # the worker pod requests nothing by default ...
    assert kpo.unrequested_memory == 265_000_000  # ... and its Airflow process is unaccounted for
    assert kpo.total_memory == 1024 * MI + 265_000_000
    assert fused.unrequested_memory == 0 and fused.business_memory == 1024 * MI - 265_000_000
    assert celery.requested_memory == 512 * MI  # 8Gi / 16
    assert celery.business_memory == 512 * MI - 265_000_000


def test_kpo_worker_request_adds_a_second_request():
    _, kpo, _ = standard_task_footprints(team_memory_request="1Gi", airflow_task_memory="265M",
                                         worker_concurrency=16, kpo_worker_memory_request="512Mi")
    assert kpo.requested_memory == 1536 * MI and kpo.unrequested_memory == 0


def test_bad_concurrency():
    with pytest.raises(ValueError):
        standard_task_footprints(team_memory_request="1Gi", airflow_task_memory="265M", worker_concurrency=0)


def _stack_cases():
    """(label, stack settings, default team) for every stack file."""
    cases = []
    for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        settings = load_stack_settings(stack)
        team = settings.teams.get(settings.default_team)
        cases.append((f"stack {stack}, default team {team.name}", settings, team))
    return cases


def test_measurement_for_standard_tasks():
    """Per stack's default team, with what the kit really deploys: the measured Airflow task
    process (274 MiB peak RSS, tests/dags), Celery workers sized by the kit, and under
    KubernetesPodOperator an executor worker pod from the team template (same request)."""
    from tests.support.measurements import MEASURED

    for label, settings, team in _stack_cases():
        memory, concurrency = team.task_resources.memory, settings.airflow.concurrency.worker_concurrency
        worker_memory = settings.airflow.celery_worker_resources()["requests"]["memory"]
        fused, kpo, celery = standard_task_footprints(
            team_memory_request=memory, airflow_task_memory=MEASURED_TASK_PROCESS,
            worker_concurrency=concurrency, celery_worker_memory_request=worker_memory,
            kpo_worker_memory_request=memory)
        assert (fused.pods_per_task, kpo.pods_per_task, celery.pods_per_task) == (1, 2, 0)
        assert fused.requested_memory == int(parse_quantity(memory))
        assert kpo.requested_memory == 2 * int(parse_quantity(memory))
        assert celery.requested_memory == int(parse_quantity(worker_memory)) // concurrency
        MEASURED[f"memory per standard task, {label}"] = (
            f"fused 1 pod {fused.requested_memory / MI:.0f} MiB; KubernetesPodOperator 2 pods "
            f"{kpo.requested_memory / MI:.0f} MiB; Celery share {celery.requested_memory / MI:.0f} MiB "
            f"(worker {worker_memory} / {concurrency}); Airflow task process {MEASURED_TASK_PROCESS}")
