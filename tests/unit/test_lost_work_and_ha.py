"""What the fault tier relies on, rendered: the clocks for lost work on every stack, and the HA
values of a stack with several schedulers, triggerers and API servers."""

from __future__ import annotations

import pytest

from airflow_kit_platform.airflow.values import LOST_TASK_SECONDS, ORPHAN_CHECK_SECONDS, build_values
from airflow_kit_platform.settings import load_settings
from tests.support.stacks import STACKS, required_secrets, stack_file_config


def values_of(stack: str, **airflow) -> dict:
    config = stack_file_config(stack)
    config["airflow"] = {**config.get("airflow", {}), **airflow}
    return build_values(load_settings(stack, config, frozenset(required_secrets(stack))))


@pytest.mark.parametrize("stack", STACKS)
def test_a_lost_running_task_is_failed_within_minutes_and_orphans_adopted_within_one(stack):
    scheduler = values_of(stack)["config"]["scheduler"]
    assert scheduler["task_instance_heartbeat_timeout"] == LOST_TASK_SECONDS <= 180
    assert scheduler["orphaned_tasks_check_interval"] == ORPHAN_CHECK_SECONDS <= 60
    # The quota wait is a different clock: a Pending pod's task is queued, not running.
    assert scheduler["task_queued_timeout"] > LOST_TASK_SECONDS


@pytest.mark.parametrize("stack", STACKS)
def test_a_task_outlives_an_api_server_restart_as_long_as_the_scheduler_waits_for_it(stack):
    # Airflow's 3 failed heartbeats (~30 s) stopped a live task while its one API server restarted.
    workers = values_of(stack)["config"]["workers"]
    assert workers["max_failed_heartbeats"] * workers["min_heartbeat_interval"] >= LOST_TASK_SECONDS
    # Its other calls (start, final state) gave up after Airflow's 5 tries (4-31 s): a team pod's
    # task failed. The waits between tries are random, so their minimum must cover the outage.
    shortest_retrying = (workers["execution_api_retries"] - 1) * workers["execution_api_retry_wait_min"]
    assert shortest_retrying >= LOST_TASK_SECONDS


@pytest.mark.parametrize("stack", [s for s in STACKS if stack_file_config(s).get("airflow", {}).get("logsVolume")])
def test_failed_task_pods_are_deleted_when_their_log_is_on_the_logs_volume(stack):
    assert values_of(stack)["config"]["kubernetes_executor"]["delete_worker_pods_on_failure"] == "True"


def test_prod_runs_two_of_each_control_component_with_disruption_budgets():
    values = values_of("prod")
    assert values["scheduler"]["replicas"] == values["triggerer"]["replicas"] == values["apiServer"]["replicas"] == 2
    for component in ("scheduler", "apiServer", "triggerer"):
        assert values[component]["podDisruptionBudget"] == {"enabled": True, "config": {"maxUnavailable": 1}}


def test_replicated_schedulers_roll_in_place_without_a_surge_pod():
    # A surge pod on a full node stays Pending and the old scheduler is never replaced.
    strategy = values_of("prod")["scheduler"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_one_replica_each_keeps_the_charts_defaults():
    values = values_of("local")
    assert "scheduler" not in values or not {"replicas", "strategy"} & set(values["scheduler"])
    assert "replicas" not in values["triggerer"]
    assert all("podDisruptionBudget" not in values.get(c, {}) for c in ("scheduler", "apiServer", "triggerer"))


def test_budgets_can_be_switched_off_with_replicas():
    values = values_of("prod", podDisruptionBudgets=False)
    assert all("podDisruptionBudget" not in values.get(c, {}) for c in ("scheduler", "apiServer", "triggerer"))
