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


def test_flat_tree_lends_its_mins_as_deserved_under_the_capacity_plugin():
    # Not proportion's `guarantee`: that is reserved for its queue, so an idle team's min is never lent.
    plan = volcano.plan(settings_for("volcano", teams=flat_teams()))
    for queue in plan.custom_resources:
        assert "parent" not in queue["spec"] and "guarantee" not in queue["spec"]
    assert plan.custom_resources[0]["spec"]["deserved"] == {"cpu": "16", "memory": "64Gi"}
    plugins = _plugins(_config(plan))
    assert plugins["capacity"] == {"name": "capacity"} and "proportion" not in plugins


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
    # Its admission headroom, once filled by waiting tasks, kept a returning team from being admitted.
    assert "overcommit" not in plugins
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


def roomy_tree() -> list[dict]:
    """Parents whose max holds their teams' max added up: flat queues lose no cap."""
    return [team("data", None, ("12", "32"), ("48Gi", "128Gi")),
            team("etl", "data", ("6", "16"), ("24Gi", "64Gi"), weight=3),
            team("analytics", "data", ("6", "16"), ("24Gi", "64Gi"), weight=1),
            team("research", None, ("8", "12"), ("32Gi", "48Gi"))]


def test_a_tree_whose_parents_do_not_bind_gets_flat_queues_where_lent_capacity_comes_back():
    settings = settings_for("volcano", teams=roomy_tree())
    plan = volcano.plan(settings)
    queues = {q["metadata"]["labels"][TEAM_LABEL]: q["spec"] for q in plan.custom_resources}
    assert set(queues) == {"etl", "analytics", "research"}  # no parent queue
    # Each leaf's weight is its share along the path: data and research split 1:1, etl 3:1 in data.
    assert {name: spec["weight"] for name, spec in queues.items()} == {"etl": 375, "analytics": 125, "research": 500}
    assert queues["etl"]["deserved"] == {"cpu": "6", "memory": "24Gi"}
    assert all("parent" not in spec and "guarantee" not in spec for spec in queues.values())
    plugins = _plugins(_config(plan))
    assert plugins["capacity"] == {"name": "capacity"} and "proportion" not in plugins
    assert not any("lent capacity" in note for note in volcano.notes(settings))


def test_a_binding_parent_keeps_the_hierarchy_and_pulumi_up_says_what_it_costs(plan_of):
    settings = settings_for("volcano")  # platform max 64 cpu, its teams' max add up to 80
    assert volcano.queue_mode(settings) == "hierarchy"
    (note,) = [note for note in volcano.notes(settings) if "lent capacity" in note]
    assert "'platform' max.cpu 64" in note and "only as the borrowing tasks finish" in note


def test_flat_queues_are_refused_where_a_parent_cap_would_be_lost():
    with pytest.raises(ConfigError) as error:
        volcano.plan(settings_for("volcano", scheduler={**raw_stack("volcano")["scheduler"], "queueMode": "flat"}))
    assert str(error.value).startswith(
        "stack 'test': airflow-kit:scheduler.queueMode = 'flat': flat queues cannot hold the parent team 'platform' "
        "max.cpu 64 (its teams' max add up to 80)")


def test_the_hierarchy_can_be_chosen_for_a_roomy_tree():
    scheduler = {**raw_stack("volcano")["scheduler"], "queueMode": "hierarchy"}
    plan = volcano.plan(settings_for("volcano", teams=roomy_tree(), scheduler=scheduler))
    assert [q["spec"]["parent"] for q in plan.custom_resources] == ["root", f"{NAMESPACE}-data",
                                                                    f"{NAMESPACE}-data", "root"]


def test_queue_mode_is_a_volcano_key():
    with pytest.raises(ConfigError) as error:
        settings_for("koordinator", scheduler={**raw_stack("koordinator")["scheduler"], "queueMode": "flat"})
    assert "scheduler.queueMode" in str(error.value) and "applies to scheduler.backend volcano" in str(error.value)
