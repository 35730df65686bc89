"""SchedulingLayer under Pulumi mocks: what it creates, in which order, with which options.

Under mocks a helm.v4.Chart is one resource and transforms on its children never run:
the values passed to the chart are checked here, the transform itself in
test_chart_override_merge.py.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_kubernetes as k8s
import pytest

from airflow_kit_platform.scheduling import layer as layer_module
from airflow_kit_platform.scheduling.layer import SchedulingLayer
from airflow_kit_platform.scheduling.plans import scheduling_plan
from tests.support.scheduling_stacks import REGISTRY, settings_for

CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture
def recorded(monkeypatch):
    """Every (manifest or chart spec, options) the layer hands to k8s_objects."""
    calls = {"objects": [], "charts": []}
    real_object, real_chart = layer_module.create_object, layer_module.create_chart

    def create_object(manifest, opts=None, name=None):
        calls["objects"].append((manifest, opts))
        return real_object(manifest, opts=opts, name=name)

    def create_chart(spec, opts=None):
        calls["charts"].append((spec, opts))
        return real_chart(spec, opts=opts)

    monkeypatch.setattr(layer_module, "create_object", create_object)
    monkeypatch.setattr(layer_module, "create_chart", create_chart)
    return calls


def _run(settings, plan=None, **kwargs):
    built = {}

    @pulumi.runtime.test
    def program():
        namespace = k8s.core.v1.Namespace("namespace", metadata={"name": settings.namespace})
        built["namespace"] = namespace
        built["layer"] = SchedulingLayer("scheduling", settings, plan or scheduling_plan(settings),
                                         opts=pulumi.ResourceOptions(depends_on=[namespace]), **kwargs)
        return pulumi.Output.from_input(built["layer"].queue_names)

    program()
    return built


def test_koordinator_chart_then_quotas_retained(mocks, recorded):
    settings = settings_for("koordinator")
    built = _run(settings)
    layer = built["layer"]
    (chart,) = mocks.of_type(CHART)
    assert chart.name == "koordinator"
    assert chart.inputs["values"]["imageRepositoryHost"] == REGISTRY
    assert chart.inputs["version"] == "1.8.0"
    (spec, chart_opts) = recorded["charts"][0]
    assert len(chart_opts.transforms) == 1 and chart_opts.parent is layer
    # the three chart-owned ConfigMaps are merged into the chart, never created on their own
    assert not [r for r in mocks.resources if r.typ == "kubernetes:core/v1:ConfigMap"]
    assert recorded["charts"][0][1].transforms[0].expected == {
        ("kubernetes:core/v1:ConfigMap", "koordinator-system", name)
        for name in ("koord-scheduler-config", "slo-controller-config", "koord-descheduler-config")}
    quotas = mocks.of_type("kubernetes:scheduling.sigs.k8s.io/v1alpha1:ElasticQuota")
    assert len(quotas) == 8
    # parents are handed over before their children (the mock registers asynchronously,
    # so the order is checked on the layer's calls, not on the mock's arrival order)
    created = [m["metadata"]["name"] for m, _ in recorded["objects"] if m["kind"] == "ElasticQuota"]
    assert created[:3] == ["airflow-platform", "airflow-data", "airflow-etl"]  # <namespace>-<team>
    for manifest, opts in recorded["objects"]:
        assert opts.retain_on_delete is True
        assert built["namespace"] in opts.depends_on and layer.charts["koordinator"] in opts.depends_on
        assert opts.parent is layer
    assert layer.queue_names == [f"airflow-{team}" for team in  # the objects' names: <namespace>-<team>
                                 ("platform", "data", "etl", "analytics", "ml", "training", "serving", "research")]
    assert (layer.backend, layer.scheduler_name, layer.installed_charts) == (
        "koordinator", "koord-scheduler", ["koordinator"])


def test_ack_has_no_chart_and_creates_quotas_directly(mocks, recorded):
    built = _run(settings_for("koordinator-managed"))
    assert mocks.of_type(CHART) == []
    assert recorded["charts"] == []
    assert len(recorded["objects"]) == 10  # 8 quotas + 2 colocation profiles
    assert built["layer"].installed_charts == []


def test_volcano_namespace_chart_priority_classes_queues(mocks, recorded):
    built = _run(settings_for("volcano"))
    assert sorted(r.name for r in mocks.of_type("kubernetes:core/v1:Namespace")) == ["namespace", "namespace:volcano-system"]
    (chart,) = mocks.of_type(CHART)
    assert "scheduler_config_override" in chart.inputs["values"]["custom"]
    assert len(mocks.of_type("kubernetes:scheduling.volcano.sh/v1beta1:Queue")) == 8
    classes = [(m, o) for m, o in recorded["objects"] if m["kind"] == "PriorityClass"]
    queues = [(m, o) for m, o in recorded["objects"] if m["kind"] == "Queue"]
    assert len(classes) == 4 and len(queues) == 8
    assert all(not o.retain_on_delete for _, o in classes)
    assert all(o.retain_on_delete and built["layer"].charts["volcano"] in o.depends_on for _, o in queues)


def test_default_core_objects_after_the_namespace(mocks, recorded):
    built = _run(settings_for("default"))
    assert mocks.of_type(CHART) == []
    kinds = [m["kind"] for m, _ in recorded["objects"]]
    assert kinds == ["PriorityClass"] * 9 + ["ResourceQuota", "LimitRange"] + ["ResourceQuota"] * 8
    for _, opts in recorded["objects"]:
        assert opts.depends_on == [built["namespace"]]
    assert built["layer"].queue_names == []


def test_retention_can_be_turned_off(mocks, recorded):
    _run(settings_for("volcano"), retain_on_delete=False)
    queues = [o for m, o in recorded["objects"] if m["kind"] == "Queue"]
    assert queues and not any(o.retain_on_delete for o in queues)


def test_override_for_a_chart_the_plan_does_not_install_is_a_bug(mocks):
    settings = settings_for("koordinator")
    plan = scheduling_plan(settings)
    with pytest.raises(ValueError, match="overrides chart release 'koordinator', which this plan does not install"):
        _run(settings, plan=replace(plan, charts=()))


def test_quota_labels_from_the_queue_layer(mocks, recorded):
    _run(settings_for("koordinator"), quota_labels={"etl": {"koord-queue/queue-policy": "Priority"}})
    quotas = {m["metadata"]["name"]: m for m, _ in recorded["objects"] if m["kind"] == "ElasticQuota"}
    assert quotas["airflow-etl"]["metadata"]["labels"]["koord-queue/queue-policy"] == "Priority"
    (etl,) = [r for r in mocks.resources if r.name == "elasticquota:airflow/airflow-etl"]
    assert etl.inputs["metadata"]["labels"]["koord-queue/queue-policy"] == "Priority"
