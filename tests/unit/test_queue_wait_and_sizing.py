"""How long a task may wait for its quota, and the limits sized from the team tree.

A task pod held Pending by its team's quota is killed by Airflow's own clocks unless the kit
sets them: `task_queued_timeout` (600 s), two requeues that delete the pod, and a 600 s
Execution API token. The stack says one thing (`scheduler.maxQueueWait`); these tests read
the rendered airflow.cfg back through Airflow's own config parser.
"""

from __future__ import annotations

import pytest

from airflow_kit_platform.airflow.values import POD_START_MARGIN_SECONDS, airflow_config
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.settings import PREEMPTIBLE_TASK_RETRIES, load_settings
from tests.support.stacks import STACKS, required_secrets, stack_file_config


def settings_of(stack: str, **overrides):
    return load_settings(stack, {**stack_file_config(stack), **overrides}, frozenset(required_secrets(stack)))


def airflow_parser(config: dict):
    """Airflow's own parser over the kit's `config` values, as airflow.cfg would give them."""
    airflow_configuration = pytest.importorskip("airflow.configuration")
    parser = airflow_configuration.AirflowConfigParser()
    parser.read_dict({section: {key: str(value) for key, value in entries.items()}
                      for section, entries in config.items()})
    return parser


@pytest.mark.parametrize("stack", STACKS)
def test_every_clock_follows_the_stacks_queue_wait(stack):
    settings = settings_of(stack)
    wait = settings.scheduler.max_queue_wait_seconds
    parser = airflow_parser(airflow_config(settings))
    assert parser.getfloat("scheduler", "task_queued_timeout") == wait
    assert parser.getint("scheduler", "num_stuck_in_queued_retries") == 0  # no pod deletion and requeue
    assert parser.getfloat("scheduler", "task_queued_timeout_check_interval") <= min(120, wait / 10 + 5)
    assert parser.getint("execution_api", "jwt_expiration_time") == wait + POD_START_MARGIN_SECONDS
    assert parser.get("core", "execution_api_server_url") == \
        f"http://airflow-api-server.{settings.namespace}:8080/execution/"


@pytest.mark.parametrize("backend, expected_seconds", [("default", 1800), ("koordinator", 6 * 3600),
                                                        ("volcano", 6 * 3600)])
def test_default_wait_per_backend(backend, expected_seconds):
    scheduler = {"backend": backend}
    if backend == "koordinator":
        scheduler["imageRegistry"] = "registry.example.com"
    if backend == "volcano":
        scheduler["loadAware"] = {"enabled": False}
    settings = settings_of("local", scheduler=scheduler)
    assert settings.scheduler.max_queue_wait_seconds == expected_seconds
    assert BACKENDS[backend].max_queue_wait in ("30m", "6h")


def test_a_short_wait_for_tests_is_honoured():
    settings = settings_of("local", scheduler={"backend": "default", "maxQueueWait": "90s"})
    parser = airflow_parser(airflow_config(settings))
    assert parser.getfloat("scheduler", "task_queued_timeout") == 90.0
    assert parser.getfloat("scheduler", "task_queued_timeout_check_interval") == 9.0


def test_teams_that_can_be_preempted_get_retries_by_default():
    prod = settings_of("prod")
    assert {team.name: prod.task_retries(team) for team in prod.teams.leaves()} == {
        "etl": PREEMPTIBLE_TASK_RETRIES, "ml": PREEMPTIBLE_TASK_RETRIES, "reporting": PREEMPTIBLE_TASK_RETRIES}
    local = settings_of("local")
    assert local.task_retries(local.teams.get("dev")) is None  # kube-scheduler never preempts the kit's pods


def test_a_team_that_cannot_borrow_is_not_preempted_and_its_own_retries_win():
    teams = [
        {"name": "fixed", "min": {"cpu": "4", "memory": "8Gi"}, "max": {"cpu": "4", "memory": "8Gi"}},
        {"name": "bursty", "min": {"cpu": "1", "memory": "2Gi"}, "max": {"cpu": "8", "memory": "16Gi"},
         "taskRetries": 5},
    ]
    settings = settings_of("prod", teams=teams, defaultTeam="fixed")
    assert settings.task_retries(settings.teams.get("fixed")) is None
    assert settings.task_retries(settings.teams.get("bursty")) == 5


def test_pool_slots_default_to_what_the_quota_holds():
    teams = [{"name": "etl", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "8", "memory": "64Gi"},
              "taskResources": {"cpu": "1", "memory": "1Gi"}}]
    batch = settings_of("prod", teams=teams, defaultTeam="etl")
    assert batch.teams.get("etl").pool_slots == 8  # a batch scheduler queues up to max
    default = settings_of("local", teams=teams, defaultTeam="etl")
    assert default.teams.get("etl").pool_slots == 2  # one namespace quota: the guaranteed share


def test_parallelism_unset_is_sized_from_the_tree():
    config = stack_file_config("staging")
    concurrency = {k: v for k, v in config["airflow"]["concurrency"].items() if k != "parallelism"}
    settings = settings_of("staging", airflow={**config["airflow"], "concurrency": concurrency})
    slots = sum(team.pool_slots for team in settings.teams.leaves())
    assert settings.airflow.concurrency.parallelism == slots + 16 * settings.keda.max_replicas
