"""One entry per backend, and backends never leak into each other's plans."""

from __future__ import annotations

from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import TEAM_LABEL
from airflow_kit_platform.scheduling.plans import BACKEND_MODULES, scheduling_notes, scheduling_plan
from tests.support.scheduling_stacks import STYLES, settings_for

VOLCANO_GROUPS = ("volcano.sh",)
KOORDINATOR_GROUPS = ("koordinator.sh", "scheduling.sigs.k8s.io")


def _group(manifest) -> str:
    return manifest["apiVersion"].rpartition("/")[0]


def _groups(plan) -> set[str]:
    return {_group(m) for m in plan.custom_resources + plan.core_objects}


def _any_in(groups: set[str], families) -> bool:
    return any(group == family or group.endswith("." + family) for group in groups for family in families)


def test_every_backend_setting_has_a_module():
    assert set(BACKEND_MODULES) == set(BACKENDS)
    for name, module in BACKEND_MODULES.items():
        assert callable(module.plan) and callable(module.notes)
        assert module.BACKEND == name


def test_dispatch_by_backend(style):
    settings = settings_for(style)
    plan = scheduling_plan(settings)
    assert plan.backend == settings.scheduler.backend
    assert isinstance(scheduling_notes(settings), tuple)
    assert {mark.scheduler_name for mark in plan.pod_marks.values()} == {settings.scheduler.scheduler_name}


def test_every_pod_carries_its_team_label(style):
    plan = scheduling_plan(settings_for(style))
    assert set(plan.pod_marks) == {team.name for team in settings_for(style).teams.leaves()}
    for name, mark in plan.pod_marks.items():
        assert mark.labels[TEAM_LABEL] == name
        assert mark.priority_class_name


def test_backends_are_exclusive():
    plans = {style: scheduling_plan(settings_for(style)) for style in STYLES}
    for style in ("koordinator", "koordinator-managed"):
        groups = _groups(plans[style])
        assert _any_in(groups, KOORDINATOR_GROUPS)
        assert not _any_in(groups, VOLCANO_GROUPS)
        assert all("volcano" not in key for mark in plans[style].pod_marks.values()
                   for key in {**mark.labels, **mark.annotations})
    groups = _groups(plans["volcano"])
    assert _any_in(groups, VOLCANO_GROUPS)
    assert not _any_in(groups, KOORDINATOR_GROUPS)
    assert all("koordinator" not in key for mark in plans["volcano"].pod_marks.values()
               for key in {**mark.labels, **mark.annotations})
    assert plans["default"].custom_resources == ()
    assert plans["default"].charts == ()
    assert _groups(plans["default"]) <= {"", "scheduling.k8s.io"}  # core and PriorityClass only
    assert [chart.chart for chart in plans["koordinator"].charts] == ["koordinator"]
    assert [chart.chart for chart in plans["volcano"].charts] == ["volcano"]


def test_quota_labels_land_on_each_teams_quota_only():
    from airflow_kit_platform.scheduling.plans import with_quota_labels

    plan = scheduling_plan(settings_for("koordinator"))
    labelled = with_quota_labels(plan, {"etl": {"koord-queue/queue-policy": "Priority", TEAM_LABEL: "other"},
                                        "platform": {"koord-queue/queue-policy": "Block"}})
    quotas = {m["metadata"]["labels"][TEAM_LABEL]: m["metadata"]["labels"] for m in labelled.custom_resources
              if m["kind"] == "ElasticQuota"}
    assert quotas["etl"]["koord-queue/queue-policy"] == "Priority"
    assert quotas["etl"][TEAM_LABEL] == "etl"  # the scheduling labels win
    assert quotas["platform"]["koord-queue/queue-policy"] == "Block"
    assert "koord-queue/queue-policy" not in quotas["analytics"]
    profiles = [m for m in labelled.custom_resources if m["kind"] == "ClusterColocationProfile"]
    assert all("koord-queue/queue-policy" not in p["metadata"]["labels"] for p in profiles)
    assert "koord-queue/queue-policy" not in plan.custom_resources[2]["metadata"]["labels"]  # input untouched
    assert with_quota_labels(plan, {}) is plan
