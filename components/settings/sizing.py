"""Sizing rules: Airflow's limits sized to the team tree, or refused when a given value cannot fit it."""

from __future__ import annotations

from dataclasses import replace

from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.teams import TeamTree
from airflow_kit_platform.quantities import format_quantity, parse_quantity
from airflow_kit_platform.settings.airflow import AIRFLOW_DEFAULT_PARALLELISM, AirflowSettings
from airflow_kit_platform.settings.keda import Keda
from airflow_kit_platform.settings.scheduler import SchedulerSettings


def sized_concurrency(stack: str, airflow: AirflowSettings, keda: Keda, scheduler: SchedulerSettings,
                       teams: TeamTree) -> AirflowSettings:
    """Airflow's limits sized to the team tree, or refused when a given value cannot fit it.

    KubernetesExecutor tasks whose pods wait for their quota count against `[core] parallelism`
    for every executor: parallelism must hold every team pool's slots AND the Celery workers'
    capacity (unset, it is exactly that, and at least Airflow's 32). On the default backend a
    pod beyond the namespace ResourceQuota is refused at creation and its task fails: the team
    pools must not admit more than the quota holds.
    """
    concurrency = airflow.concurrency
    kubernetes = "KubernetesExecutor" in airflow.executors
    leaves = teams.leaves()
    parts = []
    team_slots = sum(team.pool_slots for team in leaves) if kubernetes else 0
    if kubernetes:
        largest = sorted(leaves, key=lambda team: -team.pool_slots)
        shown = ", ".join(f"{team.name} {team.pool_slots}" for team in largest[:5])
        shown += f", ... {len(leaves) - 5} more" if len(leaves) > 5 else ""
        parts.append(f"team pool slots {team_slots} ({shown})")
    celery = 0
    if "CeleryExecutor" in airflow.executors:
        workers = keda.max_replicas if keda.enabled else airflow.celery_worker_replicas
        celery = concurrency.worker_concurrency * workers
        parts.append(f"Celery capacity {celery} (workerConcurrency {concurrency.worker_concurrency} x "
                     f"{workers} worker{'s' if workers != 1 else ''}{' at KEDA maxReplicas' if keda.enabled else ''})")
    needed = team_slots + celery
    if not concurrency.parallelism:
        concurrency = replace(concurrency, parallelism=max(AIRFLOW_DEFAULT_PARALLELISM, needed))
        if concurrency.max_active_tasks_per_dag > concurrency.parallelism:
            raise ConfigError(stack, "airflow.concurrency.maxActiveTasksPerDag", concurrency.max_active_tasks_per_dag,
                              f"must not exceed parallelism ({concurrency.parallelism}, sized from the teams)")
    elif kubernetes and concurrency.parallelism < needed:
        raise ConfigError(stack, "airflow.concurrency.parallelism", concurrency.parallelism,
                          f"must be at least {needed} = {' + '.join(parts)}: KubernetesExecutor tasks waiting "
                          "for their quota hold parallelism slots, so a smaller value lets a full quota "
                          "stop every other task; raise parallelism or lower poolSlots/workers")
    if kubernetes and BACKENDS[scheduler.backend].quota_refuses_pods:
        check_pools_fit_quota(stack, teams)
    return replace(airflow, concurrency=concurrency)


def check_pools_fit_quota(stack: str, teams: TeamTree) -> None:
    for top in teams.children(None):
        leaves = teams.leaves_under(top.name)
        for resource, ceiling in top.max.items():
            if resource not in ("cpu", "memory"):
                continue
            need = {team.name: team.pool_slots * parse_quantity(getattr(team.task_resources, resource))
                    for team in leaves}
            if sum(need.values()) > parse_quantity(ceiling):
                biggest = max(leaves, key=lambda team: need[team.name])
                total = format_quantity(resource, sum(need.values()))
                raise ConfigError(
                    stack, f"teams[{biggest.name}].poolSlots", biggest.pool_slots,
                    f"team pools under '{top.name}' admit tasks requesting {total} {resource} in all "
                    f"(poolSlots x taskResources.{resource}), more than its max.{resource} {ceiling}: on the "
                    "default scheduler the namespace ResourceQuota refuses the extra pods and their tasks "
                    "fail; lower poolSlots or taskResources, or raise max")
