"""Pods and memory per task for the three ways the kit can run a "standard task".

A standard task asks for its team's default resources (`taskResources`). Per task:

(a) KubernetesExecutor + fused image: 1 pod. The pod requests the team's resources; the Airflow
    task process (supervisor + task runner, measured separately: ~250-280 MB) runs inside it,
    next to the business code, so it is inside the request.
(b) KubernetesExecutor + KubernetesPodOperator: 2 pods. The executor's worker pod (chart template:
    `workers.resources`, `{}` by default, i.e. no request at all) runs the Airflow task process,
    which launches and then watches the business pod (the team's request). The worker pod's real
    memory is not requested unless `workers.resources` sets it: the scheduler does not see it.
(c) CeleryExecutor: 0 extra pods. The task runs in a long-lived worker; its share is the worker's
    memory request divided by `[celery] worker_concurrency`, out of which the task process and the
    business code both live.

`standard_task_footprints` is pure (quantities in, bytes out) so the README can cite the numbers;
tests/unit/workloads/test_pod_templates_overhead.py prints them for the stacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from airflow_kit_platform.quantities import parse_quantity

MI = 2 ** 20
# The chart's default `workers.resources` is `{}`: Celery workers and pods from the chart's default
# pod template request nothing.
CHART_DEFAULT_WORKER_MEMORY_REQUEST = "0"


@dataclass(frozen=True)
class TaskFootprint:
    mode: str
    pods_per_task: int  # pods created for this one task (0: runs in a long-lived Celery worker)
    requested_memory: int  # bytes the scheduler reserves for the task (sum over its pods, or its share)
    airflow_memory: int  # bytes of the Airflow task process per task
    unrequested_memory: int  # Airflow bytes outside any request (invisible to the scheduler)
    business_memory: int  # bytes of requested memory left for the business code

    @property
    def total_memory(self) -> int:
        """Requested memory plus what runs without a request: the real footprint per task."""
        return self.requested_memory + self.unrequested_memory


def _bytes(value: str) -> Decimal:
    return parse_quantity(value)


def standard_task_footprints(*, team_memory_request: str, airflow_task_memory: str,
                             worker_concurrency: int,
                             celery_worker_memory_request: str = CHART_DEFAULT_WORKER_MEMORY_REQUEST,
                             kpo_worker_memory_request: str = CHART_DEFAULT_WORKER_MEMORY_REQUEST,
                             ) -> tuple[TaskFootprint, TaskFootprint, TaskFootprint]:
    """The (a) fused, (b) KubernetesPodOperator and (c) Celery footprints of one standard task.

    :param team_memory_request: the team's default task memory request (`taskResources.memory`)
    :param airflow_task_memory: measured RSS of the Airflow task process (e.g. "265Mi")
    :param worker_concurrency: `[celery] worker_concurrency`
    :param celery_worker_memory_request: a Celery worker pod's memory request (chart `workers.resources`)
    :param kpo_worker_memory_request: the executor worker pod's memory request under (b): the chart's
        default template uses `workers.resources` too
    """
    if worker_concurrency < 1:
        raise ValueError("worker_concurrency must be at least 1")
    team = _bytes(team_memory_request)
    airflow = _bytes(airflow_task_memory)
    kpo_worker = _bytes(kpo_worker_memory_request)
    celery_share = _bytes(celery_worker_memory_request) / worker_concurrency

    def whole(value: Decimal) -> int:
        return int(value.to_integral_value())

    fused = TaskFootprint(
        mode="KubernetesExecutor + fused image", pods_per_task=1,
        requested_memory=whole(team), airflow_memory=whole(airflow),
        unrequested_memory=whole(max(Decimal(0), airflow - team)),
        business_memory=whole(max(Decimal(0), team - airflow)))
    kpo = TaskFootprint(
        mode="KubernetesExecutor + KubernetesPodOperator", pods_per_task=2,
        requested_memory=whole(kpo_worker + team), airflow_memory=whole(airflow),
        unrequested_memory=whole(max(Decimal(0), airflow - kpo_worker)),
        business_memory=whole(team))
    celery = TaskFootprint(
        mode="CeleryExecutor", pods_per_task=0,
        requested_memory=whole(celery_share), airflow_memory=whole(airflow),
        unrequested_memory=whole(max(Decimal(0), airflow - celery_share)),
        business_memory=whole(max(Decimal(0), celery_share - airflow)))
    return fused, kpo, celery

