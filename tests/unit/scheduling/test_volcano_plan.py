"""Volcano: the team tree becomes queues, the scheduler configuration and PriorityClasses."""

from __future__ import annotations

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.names import TEAM_LABEL
from airflow_kit_platform.model.teams import PRIORITY_VALUES
from airflow_kit_platform.scheduling import volcano
from tests.support.scheduling_stacks import NAMESPACE, PROMETHEUS, flat_teams, raw_stack, settings_for, team

EXPECTED_QUEUES = {
    # name: (parent, deserved = min, capability = max, weight)
    "platform": ("root", {"cpu": "40", "memory": "160Gi"}, {"cpu": "64", "memory": "256Gi"}, 1),
    "data": ("platform", {"cpu": "24", "memory": "96Gi"}, {"cpu": "48", "memory": "192Gi"}, 3),
    "etl": ("data", {"cpu": "8", "memory": "32Gi"}, {"cpu": "24", "memory": "96Gi"}, 2),
    "analytics": ("data", {"cpu": "8", "memory": "32Gi"}, {"cpu": "16", "memory": "64Gi"}, 1),
    "ml": ("platform", {"cpu": "16", "memory": "64Gi"}, {"cpu": "32", "memory": "128Gi"}, 1),
    "training": ("ml", {"cpu": "8", "memory": "32Gi"}, {"cpu": "32", "memory": "128Gi"}, 4),
    "serving": ("ml", {"cpu": "4", "memory": "16Gi"}, {"cpu": "8", "memory": "32Gi"}, 1),
    "research": ("root", {"cpu": "8", "memory": "32Gi"}, {"cpu": "16", "memory": "64Gi"}, 1),
}


def _config(plan) -> dict:
    (chart,) = plan.charts
    return yaml.safe_load(chart.values["custom"]["scheduler_config_override"])


def _plugins(config) -> dict:
    return {plugin["name"]: plugin for tier in config["tiers"] for plugin in tier["plugins"]}


def test_three_level_tree_becomes_exactly_these_queues(plan_of):
    plan = plan_of("volcano")
    # Queues are cluster-scoped: named after the stack's namespace and the team.
    assert [q["metadata"]["name"] for q in plan.custom_resources] == [f"{NAMESPACE}-{t}" for t in EXPECTED_QUEUES]
    for queue in plan.custom_resources:
        team = queue["metadata"]["labels"][TEAM_LABEL]
        parent, deserved, capability, weight = EXPECTED_QUEUES[team]
        assert (queue["apiVersion"], queue["kind"]) == ("scheduling.volcano.sh/v1beta1", "Queue")
        assert "namespace" not in queue["metadata"]  # cluster-scoped
        assert queue["metadata"]["name"] == f"{NAMESPACE}-{team}"
        assert queue["spec"] == {"weight": weight, "capability": capability, "reclaimable": True,
                                 "deserved": deserved, "parent": parent if parent == "root" else f"{NAMESPACE}-{parent}"}


def test_flat_tree_uses_proportion_and_guarantee():
    plan = volcano.plan(settings_for("volcano", teams=flat_teams()))
    for queue in plan.custom_resources:
        assert "parent" not in queue["spec"] and "deserved" not in queue["spec"]
        assert set(queue["spec"]["guarantee"]) == {"resource"}
    assert plan.custom_resources[0]["spec"]["guarantee"]["resource"] == {"cpu": "16", "memory": "64Gi"}
    plugins = _plugins(_config(plan))
    assert "proportion" in plugins and "capacity" not in plugins


def test_hierarchy_turns_on_the_capacity_plugin(plan_of):
    plugins = _plugins(_config(plan_of("volcano")))
    assert plugins["capacity"] == {"name": "capacity", "enableHierarchy": True}
    assert "proportion" not in plugins


def test_scheduler_config_carries_the_stacks_thresholds(plan_of):
    config = _config(plan_of("volcano"))
    assert config["actions"] == "enqueue, allocate, reclaim, backfill"
    plugins = _plugins(config)
    assert plugins["usage"]["arguments"]["thresholds"] == {"cpu": 70, "mem": 85}
    assert all(isinstance(v, int) for v in plugins["usage"]["arguments"]["thresholds"].values())
    assert plugins["usage"]["enablePredicate"] is True
    assert plugins["overcommit"]["arguments"] == {"overcommit-factor": 1.5}
    assert config["metrics"] == {"type": "prometheus", "address": PROMETHEUS, "interval": "30s"}
    assert "binpack" not in plugins  # it would pack what usage spreads
    for required in ("priority", "gang", "conformance", "drf", "predicates", "nodeorder"):
        assert required in plugins


def test_without_load_aware_binpack_and_no_metrics():
    scheduler = dict(raw_stack("volcano")["scheduler"], loadAware={"enabled": False})
    config = _config(volcano.plan(settings_for("volcano", scheduler=scheduler)))
    plugins = _plugins(config)
    assert "usage" not in plugins and "binpack" in plugins
    assert "metrics" not in config


def test_chart_values(plan_of):
    (chart,) = plan_of("volcano").charts
    assert (chart.release, chart.chart, chart.repository, chart.version, chart.namespace) == (
        "volcano", "volcano", versions.VOLCANO_CHART_REPO, versions.VOLCANO_CHART_VERSION, "volcano-system")
    assert chart.create_namespace is True
    assert set(chart.values) == {"custom"}
    assert chart.values["custom"]["colocation_enable"] is True
    scheduler = dict(raw_stack("volcano")["scheduler"], imageRegistry="mirror.example.com",
                     overcommit={"enabled": False})
    (chart,) = volcano.plan(settings_for("volcano", scheduler=scheduler)).charts
    assert chart.values["basic"] == {"image_registry": "mirror.example.com"}
    assert chart.values["custom"]["colocation_enable"] is False


def test_pod_marks_name_the_queue(plan_of):
    marks = plan_of("volcano").pod_marks
    assert set(marks) == {"etl", "analytics", "training", "serving", "research"}
    for name, mark in marks.items():
        assert mark.scheduler_name == "volcano"
        assert mark.labels == {TEAM_LABEL: name}
        assert mark.annotations["scheduling.volcano.sh/queue-name"] == f"{NAMESPACE}-{name}"
    assert marks["etl"].annotations["volcano.sh/qos-level"] == "BE"
    assert "volcano.sh/qos-level" not in marks["analytics"].annotations
    assert marks["serving"].priority_class_name == f"{NAMESPACE}-prod"
    assert marks["training"].priority_class_name == f"{NAMESPACE}-free"


def test_priority_classes_for_the_tiers_in_use(plan_of):
    plan = plan_of("volcano")
    assert {(p["metadata"]["name"], p["value"]) for p in plan.core_objects} == {
        (f"{NAMESPACE}-{tier}", value) for tier, value in PRIORITY_VALUES.items()}
    plan = volcano.plan(settings_for("volcano", teams=flat_teams()))  # mid and batch only
    assert [p["metadata"]["name"] for p in plan.core_objects] == [f"{NAMESPACE}-mid", f"{NAMESPACE}-batch"]
    assert all("preemptionPolicy" not in p for p in plan.core_objects)


def test_existing_volcano_gets_queues_only(settings_of):
    scheduler = dict(raw_stack("volcano")["scheduler"], install=False)
    settings = settings_for("volcano", scheduler=scheduler)
    plan = volcano.plan(settings)
    assert plan.charts == ()
    assert len(plan.custom_resources) == len(EXPECTED_QUEUES)
    assert any("capacity (enableHierarchy: true)" in note for note in volcano.notes(settings))


def test_child_capability_must_not_exceed_the_parents():
    teams = [team("data", None, ("4", "16"), ("8Gi", "32Gi")), team("etl", "data", ("2", "24"), ("4Gi", "8Gi"))]
    with pytest.raises(ConfigError) as error:
        volcano.plan(settings_for("volcano", teams=teams))
    assert str(error.value) == (
        "stack 'test': airflow-kit:teams[etl].max.cpu = '24': must not exceed its parent 'data' max.cpu 16: "
        "Volcano's capacity plugin rejects a queue tree whose child capability is above its parent's")


@pytest.mark.parametrize("name", ["default", "root"])
def test_reserved_queue_names(name):
    with pytest.raises(ConfigError) as error:
        volcano.plan(settings_for("volcano", teams=[team(name, None, ("4", "16"), ("8Gi", "32Gi"))]))
    assert str(error.value) == (
        f"stack 'test': airflow-kit:teams[{name}].name = '{name}': is a queue Volcano creates itself "
        "(root, default); choose another name")
