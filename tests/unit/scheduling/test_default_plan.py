"""Default kube-scheduler: task ResourceQuotas (the tree's and one per team), a LimitRange, PriorityClasses, retries."""

from __future__ import annotations

import pytest

from airflow_kit_platform.model.names import TEAM_LABEL
from airflow_kit_platform.quantities import format_quantity, parse_quantity, sum_quantities
from airflow_kit_platform.scheduling import default
from tests.support.scheduling_stacks import NAMESPACE, flat_teams, settings_for, team


def _kind(plan, kind):
    return [m for m in plan.core_objects if m["kind"] == kind]


def _quotas(plan):
    return {quota["metadata"]["name"]: quota for quota in _kind(plan, "ResourceQuota")}


def test_no_chart_no_custom_resources(plan_of):
    plan = plan_of("default")
    assert plan.charts == () and plan.custom_resources == ()
    # 4 tiers + 5 leaf teams' classes; the tree's quota, the LimitRange, a quota per team (8)
    assert [m["kind"] for m in plan.core_objects] == (["PriorityClass"] * 9 + ["ResourceQuota", "LimitRange"]
                                                      + ["ResourceQuota"] * 8)


def test_resource_quota_is_the_top_level_ceiling_for_task_pods_only(plan_of):
    quota = _quotas(plan_of("default"))["airflow-kit-tasks"]
    assert quota["metadata"] == {"name": "airflow-kit-tasks", "namespace": NAMESPACE,
                                 "labels": {"app.kubernetes.io/part-of": "airflow-kit"}}
    # platform (64, 256Gi) + research (16, 64Gi): not the leaves' 96 cpu
    assert quota["spec"]["hard"] == {"requests.cpu": "80", "requests.memory": "320Gi"}
    (expression,) = quota["spec"]["scopeSelector"]["matchExpressions"]
    teams = ["etl", "analytics", "training", "serving", "research"]
    assert expression == {"scopeName": "PriorityClass", "operator": "In",
                          "values": [f"{NAMESPACE}-team-{name}" for name in teams]
                          + [f"{NAMESPACE}-prod", f"{NAMESPACE}-mid", f"{NAMESPACE}-batch", f"{NAMESPACE}-free"]}


def test_every_team_max_is_a_quota_over_its_leaf_teams_pods(plan_of):
    """A pod must fit every ResourceQuota whose scope selects it: its leaf team's and each ancestor's."""
    quotas = _quotas(plan_of("default"))
    assert set(quotas) == {"airflow-kit-tasks"} | {f"airflow-kit-team-{name}" for name in (
        "platform", "data", "etl", "analytics", "ml", "training", "serving", "research")}

    def selected(name):
        (expression,) = quotas[f"airflow-kit-team-{name}"]["spec"]["scopeSelector"]["matchExpressions"]
        assert expression["scopeName"] == "PriorityClass" and expression["operator"] == "In"
        return sorted(value.removeprefix(f"{NAMESPACE}-team-") for value in expression["values"])

    assert selected("etl") == ["etl"]
    assert selected("data") == ["analytics", "etl"]
    assert selected("platform") == ["analytics", "etl", "serving", "training"]
    assert quotas["airflow-kit-team-etl"]["spec"]["hard"] == {"requests.cpu": "24", "requests.memory": "96Gi"}
    assert quotas["airflow-kit-team-data"]["spec"]["hard"] == {"requests.cpu": "48", "requests.memory": "192Gi"}
    assert {quota["metadata"]["namespace"] for quota in quotas.values()} == {NAMESPACE}


def test_team_namespaces_hold_each_team_in_its_own_namespace_instead():
    plan = default.plan(settings_for("default", teams=flat_teams(), teamNamespaces=True))
    quotas = _kind(plan, "ResourceQuota")
    assert {(q["metadata"]["namespace"], q["metadata"]["name"]) for q in quotas} == {
        (NAMESPACE, "airflow-kit-tasks"), (f"{NAMESPACE}-bi", "airflow-kit-tasks"),
        (f"{NAMESPACE}-offline", "airflow-kit-tasks")}
    for quota in quotas:  # the team's own PriorityClass is counted there too
        (expression,) = quota["spec"]["scopeSelector"]["matchExpressions"]
        assert f"{NAMESPACE}-team-bi" in expression["values"]


def test_quota_counts_extended_resources_someone_bounds():
    teams = [team("a", None, ("1", "2500m"), ("1Gi", "1536Mi")), team("b", None, ("1", "1"), ("1Gi", "1Gi"))]
    teams[0]["min"]["nvidia.com/gpu"] = "1"
    teams[0]["max"]["nvidia.com/gpu"] = "2"
    quotas = _quotas(default.plan(settings_for("default", teams=teams)))
    assert quotas["airflow-kit-tasks"]["spec"]["hard"] == {"requests.cpu": "3500m", "requests.memory": "2560Mi",
                                                          "requests.nvidia.com/gpu": "2"}
    assert quotas["airflow-kit-team-b"]["spec"]["hard"] == {"requests.cpu": "1", "requests.memory": "1Gi"}


def test_limit_range_defaults_requests_from_the_default_team(plan_of):
    (limits,) = _kind(plan_of("default"), "LimitRange")
    # defaultTeam falls back to the first leaf, etl (taskResources cpu 1, memory 2Gi)
    assert limits["spec"] == {"limits": [{"type": "Container", "defaultRequest": {"cpu": "1", "memory": "2Gi"}}]}
    (limits,) = _kind(default.plan(settings_for("default", defaultTeam="analytics")), "LimitRange")
    assert limits["spec"]["limits"][0]["defaultRequest"] == {"cpu": "500m", "memory": "1Gi"}
    assert "default" not in limits["spec"]["limits"][0]  # no limits imposed on Airflow's own pods


def test_priority_classes_never_preempt(plan_of):
    classes = _kind(plan_of("default"), "PriorityClass")
    assert {c["metadata"]["name"]: c["value"] for c in classes} == {
        f"{NAMESPACE}-prod": 9000, f"{NAMESPACE}-mid": 7000, f"{NAMESPACE}-batch": 5000, f"{NAMESPACE}-free": 3000,
        f"{NAMESPACE}-team-etl": 5000, f"{NAMESPACE}-team-analytics": 7000, f"{NAMESPACE}-team-training": 3000,
        f"{NAMESPACE}-team-serving": 9000, f"{NAMESPACE}-team-research": 7000}
    assert {c["preemptionPolicy"] for c in classes} == {"Never"}
    assert {c["globalDefault"] for c in classes} == {False}


def test_pod_marks(plan_of):
    marks = plan_of("default").pod_marks
    assert set(marks) == {"etl", "analytics", "training", "serving", "research"}
    for name, mark in marks.items():
        assert mark.scheduler_name == "default-scheduler"
        assert mark.labels == {TEAM_LABEL: name}
        assert mark.annotations == {}
    assert marks["etl"].priority_class_name == f"{NAMESPACE}-team-etl"  # its quotas select it by that


@pytest.mark.parametrize("configured,expected", [(None, 3), (0, 3), (7, 7), (-1, -1)])
def test_publish_retries(configured, expected):
    airflow = {} if configured is None else {"concurrency": {"taskPublishMaxRetries": configured}}
    plan = default.plan(settings_for("default", airflow=airflow))
    assert plan.airflow_config == {"kubernetes_executor": {"task_publish_max_retries": expected}}


def test_only_used_tiers(plan_of):
    plan = default.plan(settings_for("default", teams=flat_teams()))
    assert [c["metadata"]["name"] for c in _kind(plan, "PriorityClass")] == [
        f"{NAMESPACE}-mid", f"{NAMESPACE}-batch", f"{NAMESPACE}-team-bi", f"{NAMESPACE}-team-offline"]


@pytest.mark.parametrize("resource,values,expected", [
    ("cpu", ["1", "500m"], "1500m"), ("cpu", ["2", "3"], "5"), ("cpu", ["0.1", "0.25"], "350m"),
    ("memory", ["1Gi", "512Mi"], "1536Mi"), ("memory", ["1G", "1G"], "2G"), ("memory", ["1000", "1"], "1001"), ("memory", ["64Gi"], "64Gi"),
    ("nvidia.com/gpu", ["1", "2"], "3"),
])
def test_quantity_sums(resource, values, expected):
    assert sum_quantities(resource, values) == expected
    assert parse_quantity(expected) == sum(parse_quantity(v) for v in values)
    assert format_quantity("cpu", parse_quantity("1.0005")) == "1001m"  # rounds up, never under-quotas
