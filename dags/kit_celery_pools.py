"""Pattern: Celery tasks whose concurrency is bounded by pools and DAG/task limits.

Airflow has one knob per scope, and this DAG sets each of them once:

* pool / pool_slots       across ALL DAGs: a task takes `pool_slots` slots of its pool while it
                          runs. The kit creates one pool per team (`team-<name>`, slots from the
                          stack's `poolSlots`) and the stack's extra pools (PoolsSync job).
* priority_weight         who gets a free pool slot first (higher wins; default rule sums downstream).
* max_active_tis_per_dag  running instances of ONE task across all runs of this DAG.
* max_active_tasks        running task instances of this DAG, all runs together.
* max_active_runs         concurrent runs of this DAG.
* max_consecutive_failed_dag_runs  pause the DAG after this many failed runs in a row.

No `executor=` here: the tasks run on the stack's default executor (the first of the list,
CeleryExecutor on the kit's stacks), so this DAG loads on every stack.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_kit import load_catalog

catalog = load_catalog()
# The stack's default team (teams.json `default_team`); its pool is created by the kit.
TEAM = catalog.default_team
TEAM_POOL = catalog.team(TEAM).pool

with DAG(
    dag_id="kit_celery_pools",
    description="Celery tasks bounded by the team pool and DAG/task concurrency limits",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=2,
    max_active_tasks=4,
    max_consecutive_failed_dag_runs=3,
    # pre_execute: where teams.json is not mounted (a laptop, a DAG CI) the file still loads and
    # each task fails when it runs, with one CatalogError naming the file (a no-op otherwise).
    default_args={"pool": TEAM_POOL, "retries": 1, "retry_delay": timedelta(minutes=1),
                  "pre_execute": catalog.require},
    tags=["airflow-kit", "example", "pools"],
):

    @task(priority_weight=10)  # runs first when the team pool is full
    def list_partitions() -> list[int]:
        return [0, 1, 2, 3]

    # At most two `transform` instances run at once, whatever the number of runs.
    @task(max_active_tis_per_dag=2)
    def transform(partition: int) -> int:
        return partition * partition

    # A heavy step takes two slots of the team pool.
    @task(pool_slots=2, priority_weight=5)
    def load(rows: list[int]) -> int:
        total = sum(rows)
        print(f"loaded {len(rows)} partitions, checksum {total}")
        return total

    # Bookkeeping does not need the team's capacity: Airflow's default_pool.
    @task(pool="default_pool")
    def report(total: int) -> None:
        print(f"run done, checksum {total}")

    report(load(transform.expand(partition=list_partitions())))
