"""Pods and memory per standard task: fused image vs KubernetesPodOperator vs Celery.

Run with `-s` to see the tables. The Airflow task process memory is a parameter: the claim under
test is 250-280 MB (measured separately); both ends are printed.
"""

from __future__ import annotations

import pathlib
from dataclasses import replace

import pytest

from components.quantities import parse_quantity
from components.scheduling.teams import TaskResources
from components.workloads.overhead import MI, format_table, standard_task_footprints
from components.workloads.worker_image import load_stack_settings

REPO = pathlib.Path(__file__).resolve().parents[3]
TASK_PROCESS_MEMORY = ("250M", "280M")  # the claim; replace with the measured value when published
SIZED_CELERY_WORKER = "8Gi"  # an example worker request, to compare with the chart default (none)


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
    cases = [("kit default team (taskResources default)", TaskResources().memory, 16)]
    for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name[len("Pulumi."):-len(".yaml")]
        settings = load_stack_settings(stack)
        team = settings.teams.get(settings.default_team)
        cases.append((f"stack {stack}, default team {team.name}", team.task_resources.memory,
                      settings.airflow.concurrency.worker_concurrency))
    return cases


def test_print_measurement_for_standard_tasks(capsys):
    """One table per case: the three modes with the chart's default worker resources (none), plus
    Celery with a sized worker. Both ends of the claimed task process memory for the kit default."""
    tables = []
    for index, (label, memory, concurrency) in enumerate(_stack_cases()):
        for process in (TASK_PROCESS_MEMORY if index == 0 else TASK_PROCESS_MEMORY[-1:]):
            fused, kpo, celery = standard_task_footprints(
                team_memory_request=memory, airflow_task_memory=process, worker_concurrency=concurrency)
            *_, sized = standard_task_footprints(
                team_memory_request=memory, airflow_task_memory=process, worker_concurrency=concurrency,
                celery_worker_memory_request=SIZED_CELERY_WORKER)
            sized = replace(sized, mode=f"CeleryExecutor, worker request {SIZED_CELERY_WORKER}")
            assert fused.requested_memory == int(parse_quantity(memory))
            assert kpo.total_memory - fused.total_memory == int(parse_quantity(process))
            assert sized.requested_memory == int(parse_quantity(SIZED_CELERY_WORKER)) // concurrency
            tables.append(format_table((fused, kpo, celery, sized), title=(
                f"{label}: task memory {memory}, Airflow task process {process}, "
                f"worker_concurrency {concurrency}, chart default workers.resources (none)")))
    with capsys.disabled():
        print("\n\n" + "\n\n".join(tables) + "\n")
