"""Koordinator: the team tree becomes ElasticQuotas, colocation profiles and chart overrides."""

from __future__ import annotations

import json

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.names import CHART_OVERRIDE_ANNOTATION, TEAM_LABEL
from airflow_kit_platform.scheduling import koordinator
from airflow_kit_platform.scheduling.layer import apply_override
from tests.support.scheduling_stacks import NAMESPACE, REGISTRY, deep_set, raw_stack, settings_for, team

PARENT = "quota.scheduling.koordinator.sh/parent"
IS_PARENT = "quota.scheduling.koordinator.sh/is-parent"
WEIGHT = "quota.scheduling.koordinator.sh/shared-weight"
QUOTA = "quota.scheduling.koordinator.sh/name"

EXPECTED_QUOTAS = {
    # name: (parent, is-parent, min, max, weight)
    "platform": (None, "true", {"cpu": "40", "memory": "160Gi"}, {"cpu": "64", "memory": "256Gi"}, 1),
    "data": ("platform", "true", {"cpu": "24", "memory": "96Gi"}, {"cpu": "48", "memory": "192Gi"}, 3),
    "etl": ("data", "false", {"cpu": "8", "memory": "32Gi"}, {"cpu": "24", "memory": "96Gi"}, 2),
    "analytics": ("data", "false", {"cpu": "8", "memory": "32Gi"}, {"cpu": "16", "memory": "64Gi"}, 1),
    "ml": ("platform", "true", {"cpu": "16", "memory": "64Gi"}, {"cpu": "32", "memory": "128Gi"}, 1),
    "training": ("ml", "false", {"cpu": "8", "memory": "32Gi"}, {"cpu": "32", "memory": "128Gi"}, 4),
    "serving": ("ml", "false", {"cpu": "4", "memory": "16Gi"}, {"cpu": "8", "memory": "32Gi"}, 1),
    "research": (None, "false", {"cpu": "8", "memory": "32Gi"}, {"cpu": "16", "memory": "64Gi"}, 1),
}


def _by_kind(plan, kind):
    return [m for m in plan.custom_resources if m["kind"] == kind]


def test_three_level_tree_becomes_exactly_these_quotas(plan_of):
    plan = plan_of("koordinator")
    quotas = _by_kind(plan, "ElasticQuota")
    # koord-scheduler keys quotas by name across namespaces: `<namespace>-<team>`.
    assert [q["metadata"]["name"] for q in quotas] == [f"{NAMESPACE}-{t}" for t in EXPECTED_QUOTAS]  # parents first
    for quota in quotas:
        team = quota["metadata"]["labels"][TEAM_LABEL]
        parent, is_parent, minimum, maximum, weight = EXPECTED_QUOTAS[team]
        assert quota["apiVersion"] == "scheduling.sigs.k8s.io/v1alpha1"
        assert quota["metadata"]["namespace"] == NAMESPACE
        assert quota["metadata"]["name"] == f"{NAMESPACE}-{team}"
        labels = quota["metadata"]["labels"]
        assert labels.get(PARENT) == (f"{NAMESPACE}-{parent}" if parent else None)
        assert labels[IS_PARENT] == is_parent
        assert quota["spec"] == {"min": minimum, "max": maximum}
        assert json.loads(quota["metadata"]["annotations"][WEIGHT]) == {"cpu": str(weight), "memory": str(weight)}
    assert len(plan.custom_resources) == len(EXPECTED_QUOTAS) + 2  # + two colocation profiles


def test_chart_is_pinned_with_the_registry(plan_of):
    (chart,) = plan_of("koordinator").charts
    assert (chart.release, chart.chart, chart.repository, chart.version, chart.namespace) == (
        "koordinator", "koordinator", versions.KOORDINATOR_CHART_REPO, versions.KOORDINATOR_CHART_VERSION,
        "koordinator-system")
    assert chart.values == {"imageRepositoryHost": REGISTRY, "installation": {"namespace": "koordinator-system"}}
    assert chart.create_namespace is False  # the chart renders its Namespace itself


def test_chart_version_from_settings():
    raw = deep_set(raw_stack("koordinator"), "scheduler.chartVersion", "1.7.0")
    from airflow_kit_platform.settings import load_settings

    (chart,) = koordinator.plan(load_settings("test", raw)).charts
    assert chart.version == "1.7.0"


def test_pod_marks_pick_quota_qos_and_priority(plan_of):
    marks = plan_of("koordinator").pod_marks
    assert set(marks) == {"etl", "analytics", "training", "serving", "research"}  # leaves only
    expected = {"etl": ("BE", "koord-batch"), "analytics": ("LS", "koord-mid"), "training": ("BE", "koord-free"),
                "serving": ("LS", "koord-prod"), "research": ("LS", "koord-mid")}
    for name, (qos, priority) in expected.items():
        assert marks[name].scheduler_name == "koord-scheduler"
        assert marks[name].labels == {TEAM_LABEL: name, QUOTA: f"{NAMESPACE}-{name}", "koordinator.sh/qosClass": qos}
        assert marks[name].priority_class_name == priority
        assert marks[name].annotations == {}


def test_colocation_profiles_select_only_overcommit_teams(plan_of):
    profiles = _by_kind(plan_of("koordinator"), "ClusterColocationProfile")
    assert [p["metadata"]["name"] for p in profiles] == ["airflow-kit-airflow-overcommit",
                                                         "airflow-kit-airflow-overcommit-free"]
    selected = {}
    for profile in profiles:
        spec = profile["spec"]
        assert spec["selector"]["matchLabels"] == {"kubernetes_executor": "True"}
        (expression,) = spec["selector"]["matchExpressions"]
        assert (expression["key"], expression["operator"]) == (QUOTA, "In")
        assert spec["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
        assert (spec["qosClass"], spec["schedulerName"]) == ("BE", "koord-scheduler")
        selected[spec["priorityClassName"]] = expression["values"]
    assert selected == {"koord-batch": [f"{NAMESPACE}-etl"], "koord-free": [f"{NAMESPACE}-training"]}


def test_no_overcommit_no_profiles_and_all_ls():
    scheduler = dict(raw_stack("koordinator")["scheduler"], overcommit={"enabled": False})
    plan = koordinator.plan(settings_for("koordinator", scheduler=scheduler))
    assert _by_kind(plan, "ClusterColocationProfile") == []
    assert {m.labels["koordinator.sh/qosClass"] for m in plan.pod_marks.values()} == {"LS"}
    assert [m["metadata"]["name"] for m in plan.core_objects] == ["koord-scheduler-config",
                                                                  "koord-descheduler-config"]
    assert any("etl, training ask for overcommit" in note
               for note in koordinator.notes(settings_for("koordinator", scheduler=scheduler)))


def _override(plan, name):
    (manifest,) = [m for m in plan.core_objects if m["metadata"]["name"] == name]
    assert manifest["metadata"]["namespace"] == "koordinator-system"
    assert manifest["metadata"]["annotations"][CHART_OVERRIDE_ANNOTATION] == "koordinator"
    return manifest


def test_scheduler_config_carries_the_stacks_load_aware_thresholds(plan_of):
    manifest = _override(plan_of("koordinator"), "koord-scheduler-config")
    document = yaml.safe_load(manifest["data"]["koord-scheduler-config"])
    (profile,) = document["profiles"]
    assert profile["schedulerName"] == "koord-scheduler"
    quota, plugin = profile["pluginConfig"]
    assert quota == {"name": "ElasticQuota", "args": {
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "ElasticQuotaArgs",
        "enableCheckParentQuota": True, "monitorAllQuotas": True, "delayEvictTime": "120s"}}
    assert plugin["name"] == "LoadAwareScheduling"
    assert plugin["args"] == {
        "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "LoadAwareSchedulingArgs",
        "nodeMetricExpirationSeconds": 240,
        "usageThresholds": {"cpu": 70, "memory": 85},
        "estimatedScalingFactors": {"cpu": 80, "memory": 60},
    }


def test_colocation_config_carries_the_reclaim_thresholds(plan_of):
    manifest = _override(plan_of("koordinator"), "slo-controller-config")
    assert json.loads(manifest["data"]["colocation-config"]) == {
        "enable": True, "cpuReclaimThresholdPercent": 55, "memoryReclaimThresholdPercent": 62}


def test_low_node_load_only_when_asked_and_only_in_the_airflow_namespace(plan_of):
    manifest = _override(plan_of("koordinator"), "koord-descheduler-config")
    (profile,) = yaml.safe_load(manifest["data"]["koord-descheduler-config"])["profiles"]
    assert profile["plugins"] == {"balance": {"enabled": [{"name": "LowNodeLoad"}]}}
    args = profile["pluginConfig"][0]["args"]
    assert args["evictableNamespaces"] == {"include": [NAMESPACE], "exclude": None}
    assert args["highThresholds"] == {"cpu": 70, "memory": 85}
    assert args["lowThresholds"] == {"cpu": 49, "memory": 60}
    scheduler = dict(raw_stack("koordinator")["scheduler"], descheduleLowNodeLoad=False)
    plan = koordinator.plan(settings_for("koordinator", scheduler=scheduler))
    assert "koord-descheduler-config" not in [m["metadata"]["name"] for m in plan.core_objects]


def test_ack_uses_the_managed_install_and_overwrites_nothing(plan_of, settings_of):
    plan = plan_of("koordinator-managed")
    assert plan.charts == ()
    assert plan.core_objects == ()  # the managed add-on owns its ConfigMaps
    assert len(_by_kind(plan, "ElasticQuota")) == len(EXPECTED_QUOTAS)
    assert len(_by_kind(plan, "ClusterColocationProfile")) == 2
    notes = koordinator.notes(settings_of("koordinator-managed"))
    assert any("load-aware thresholds are not applied" in note for note in notes)
    assert any("ack-slo-config" in note for note in notes)


def test_child_quota_must_bound_the_parents_resources():
    teams = [team("data", None, ("4", "16"), ("8Gi", "32Gi")), team("gpu", "data", ("2", "8"), ("4Gi", "8Gi"))]
    teams[1]["max"]["nvidia.com/gpu"] = "2"
    with pytest.raises(ConfigError) as error:
        koordinator.plan(settings_for("koordinator", teams=teams))
    assert str(error.value) == (
        "stack 'test': airflow-kit:teams[gpu].max = {'cpu': '8', 'memory': '8Gi', 'nvidia.com/gpu': '2'}: must bound "
        "the same resources as its parent 'data' max (cpu, memory): Koordinator refuses a child quota whose max "
        "names other resources than its parent's")


def test_reserved_quota_name():
    with pytest.raises(ConfigError) as error:
        koordinator.plan(settings_for("koordinator", teams=[
            team("koordinator-root-quota", None, ("4", "16"), ("8Gi", "32Gi"))]))
    assert str(error.value) == (
        "stack 'test': airflow-kit:teams[koordinator-root-quota].name = 'koordinator-root-quota': is reserved by "
        "Koordinator (koordinator-root-quota, koordinator-system-quota, koordinator-default-quota); choose another "
        "name")


def test_child_max_above_parent_max_is_fine_for_koordinator():
    teams = [team("data", None, ("4", "16"), ("8Gi", "32Gi")), team("etl", "data", ("2", "24"), ("4Gi", "8Gi"))]
    plan = koordinator.plan(settings_for("koordinator", teams=teams))
    assert [q["metadata"]["name"] for q in _by_kind(plan, "ElasticQuota")] == [f"{NAMESPACE}-data", f"{NAMESPACE}-etl"]


def test_scheduler_api_client_is_not_held_to_kube_schedulers_defaults(plan_of):
    # At 50 requests/s (kube-scheduler's default, which the chart keeps) koord-scheduler made pods
    # wait up to 18 s on its own rate limiter in the 1,000-node benchmark (bench/).
    manifest = _override(plan_of("koordinator"), "koord-scheduler-config")
    chart_text = yaml.safe_dump({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                                 "leaderElection": {"leaderElect": True},
                                 "profiles": [{"schedulerName": "koord-scheduler", "plugins": {}}]})
    merged = yaml.safe_load(apply_override({"data": {"koord-scheduler-config": chart_text}, "metadata": {}},
                                           manifest)["data"]["koord-scheduler-config"])
    assert merged["clientConnection"] == {"qps": 200, "burst": 400}
    assert merged["leaderElection"] == {"leaderElect": True}  # the chart's own keys stay
