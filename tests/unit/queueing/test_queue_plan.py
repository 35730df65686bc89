"""queue_plan: what each queue backend installs, and the marks a queued Job carries."""

from __future__ import annotations

import re

import pytest

from airflow_kit_platform import versions
from airflow_kit_platform.airflow.values import build_values
from airflow_kit_platform.queueing.plans import (DEFAULT_QUEUE_POLICY, KOORD_QUEUE_NAMESPACE, QUEUE_POLICIES,
                                       QUEUE_POLICY_LABEL, QUOTA_NAME_LABEL, QueuePlan, queue_plan)
from airflow_kit_platform.scheduling.backend import PodMarks, SchedulingPlan
from airflow_kit_platform.settings import load_settings
from tests.support.stacks import STACKS, stack_file_config
from tests.support.reference import crd_schemas
from tests.support.queue_cases import raw_config, scheduling_plan_for, settings_for

LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def plan_for(backend: str, **overrides) -> tuple:
    settings = settings_for(backend, **overrides)
    return settings, queue_plan(settings, scheduling_plan_for(settings))


def test_none_is_an_empty_plan():
    settings, plan = plan_for("none")
    assert plan == QueuePlan(backend="none")
    assert not plan.queued
    assert plan.charts == ()
    assert dict(plan.job_marks) == {} and dict(plan.quota_labels) == {}


def test_koord_queue_installs_its_chart_in_elasticquotav2_mode():
    settings, plan = plan_for("koord-queue")
    assert plan.queued
    [chart] = plan.charts
    assert (chart.release, chart.chart, chart.namespace) == ("koord-queue", "koord-queue", KOORD_QUEUE_NAMESPACE)
    assert chart.repository == versions.KOORDINATOR_CHART_REPO == "https://koordinator-sh.github.io/charts"
    assert chart.version == settings.queue.chart_version == versions.KOORD_QUEUE_CHART_VERSION == "1.8.0"
    values = chart.values
    assert values["controller"]["queueGroupPlugin"] == "elasticquotav2"
    assert values["extension"]["batchjob"]["enable"] is True
    # What the 1.8.0 templates render into the controller's config (templates/config.yaml).
    assert [p["name"] for p in values["pluginConfigs"]["plugins"]] == ["Priority", "ElasticQuotaV2"]
    assert values["global"]["imagePrefix"] == "registry.example.com"  # Koordinator's registry (mirror)


def test_chart_version_and_existing_install_are_honoured():
    _, plan = plan_for("koord-queue", queue={"backend": "koord-queue", "chartVersion": "1.8.1"})
    assert plan.charts[0].version == "1.8.1"
    _, existing = plan_for("koord-queue", queue={"backend": "koord-queue", "install": False})
    assert existing.charts == ()
    _, installed = plan_for("koord-queue")
    assert existing.job_marks == installed.job_marks and existing.quota_labels == installed.quota_labels


def test_no_queue_objects_koord_queue_creates_one_per_elasticquota():
    """ElasticQuotaV2 auto-creates a Queue (namespace koord-queue, the quota's name) per quota and owns
    it; a Queue of the kit's would collide with it. The plan carries the policy as quota labels."""
    for queue in ("koord-queue", "ack"):
        _, plan = plan_for(queue)
        assert [chart.release for chart in plan.charts] == (["koord-queue"] if queue == "koord-queue" else [])


def test_job_marks_are_the_team_pod_marks_plus_the_quota_label():
    settings, plan = plan_for("koord-queue")
    scheduling = scheduling_plan_for(settings)
    assert sorted(plan.job_marks) == ["etl", "ml"]  # leaves only: parent quotas hold no Jobs
    for team, marks in plan.job_marks.items():
        pod = scheduling.pod_marks[team]
        assert marks.scheduler_name == pod.scheduler_name == "koord-scheduler"
        assert marks.labels == {**pod.labels, QUOTA_NAME_LABEL: f"{settings.namespace}-{team}"}  # the quota's name
        assert marks.annotations == pod.annotations
        assert marks.priority_class_name == pod.priority_class_name  # QueueUnit priority comes from it


def test_quota_label_is_added_even_when_the_pod_marks_lack_it():
    settings = settings_for("koord-queue")
    bare = SchedulingPlan(backend="koordinator", pod_marks={
        "etl": PodMarks("koord-scheduler", priority_class_name="koord-batch"),
        "ml": PodMarks("koord-scheduler", annotations={"a": "b"})})
    plan = queue_plan(settings, bare)
    assert plan.job_marks["etl"].labels == {QUOTA_NAME_LABEL: f"{settings.namespace}-etl"}
    assert plan.job_marks["ml"].annotations == {"a": "b"}


def test_missing_pod_marks_name_the_team():
    settings = settings_for("koord-queue")
    with pytest.raises(KeyError, match="'ml'"):
        queue_plan(settings, SchedulingPlan(backend="koordinator",
                                            pod_marks={"etl": PodMarks("koord-scheduler")}))


def test_queue_policy_labels_for_every_quota():
    settings, plan = plan_for("koord-queue")
    assert sorted(plan.quota_labels) == ["etl", "ml", "platform"]
    for team, labels in plan.quota_labels.items():
        assert labels == {QUEUE_POLICY_LABEL: DEFAULT_QUEUE_POLICY}
        assert labels[QUEUE_POLICY_LABEL] in QUEUE_POLICIES
        for key, value in labels.items():
            assert LABEL_KEY.match(key) and LABEL_VALUE.match(value)


def test_queue_policy_lands_on_every_elastic_quota():
    """The scheduling layer merges the plan's quota labels into its ElasticQuotas (one per team),
    from which koord-queue makes one Queue per team with that policy."""
    from airflow_kit_platform.scheduling.plans import with_quota_labels

    settings, plan = plan_for("koord-queue")
    scheduling = with_quota_labels(scheduling_plan_for(settings), plan.quota_labels)
    quotas = {obj["metadata"]["name"]: obj for obj in scheduling.custom_resources if obj["kind"] == "ElasticQuota"}
    assert sorted(quotas) == [f"{settings.namespace}-{team}" for team in ("etl", "ml", "platform")]
    for name, quota in quotas.items():
        assert quota["metadata"]["labels"][QUEUE_POLICY_LABEL] == DEFAULT_QUEUE_POLICY
    jsonschema = pytest.importorskip("jsonschema")
    schema = crd_schemas()[("scheduling.sigs.k8s.io/v1alpha1", "ElasticQuota")]
    for quota in quotas.values():
        jsonschema.validate(quota, schema)


def test_ack_uses_the_managed_queue():
    settings, plan = plan_for("ack")
    assert plan.backend == "ack" and plan.queued
    assert plan.charts == ()
    for team, marks in plan.job_marks.items():
        # ack-kube-queue routes a Job to its ElasticQuotaTree leaf by this label; nothing of
        # Koordinator's (its quota label, koord-scheduler) leaks into an ACK Job.
        assert marks.labels["quota.scheduling.alibabacloud.com/name"] == f"{settings.namespace}-{team}"
        assert QUOTA_NAME_LABEL not in marks.labels
        assert marks.scheduler_name == "default-scheduler"
        assert marks.namespace == f"{settings.namespace}-{team}"
    assert dict(plan.quota_labels) == {}  # the tree has no per-queue policy labels


@pytest.mark.parametrize("queue", ["none", "koord-queue", "ack"])
def test_job_launching_rbac_follows_the_queue(queue):
    """Queued Job tasks need the chart's Job RBAC (allowJobLaunching, default false)."""
    settings = settings_for(queue)
    assert build_values(settings)["allowJobLaunching"] is (queue != "none")


def test_job_launching_rbac_without_a_queue_when_asked():
    settings = load_settings("test", {**raw_config("none"), "airflow": {"jobTasks": True}})
    assert settings.queue.backend == "none"
    assert build_values(settings)["allowJobLaunching"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files(stack):
    settings = load_settings(stack, stack_file_config(stack), frozenset({"dbPassword"}))
    plan = queue_plan(settings, scheduling_plan_for(settings))
    assert plan.backend == settings.queue.backend
    assert [chart.release for chart in plan.charts] == (
        ["koord-queue"] if settings.queue.backend == "koord-queue" and settings.queue.install else [])
    assert sorted(plan.job_marks) == (
        sorted(team.name for team in settings.teams.leaves()) if plan.queued else [])
    assert build_values(settings)["allowJobLaunching"] is (plan.queued or settings.airflow.job_tasks)


# ----------------------------------------------------------------------------- CRDs
def test_the_queue_crd_would_take_an_explicit_queue():
    schemas = crd_schemas()
    queue_crd = schemas[("scheduling.x-k8s.io/v1alpha1", "Queue")]
    # The koord-queue 1.8.0 Queue CRD would take an explicit object (plain spec fields): the kit's
    # choice not to create one rests on the controller's ownership, not on the schema.
    assert {"queuePolicy", "priority", "priorityClassName"} <= set(queue_crd["properties"]["spec"]["properties"])
