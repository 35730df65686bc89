"""QueueLayer under Pulumi mocks: the chart, then the plan's objects, all children of the layer."""

from __future__ import annotations


import pulumi
import pytest

from airflow_kit_platform.queueing import layer as layer_module
from airflow_kit_platform.queueing.layer import QueueLayer
from airflow_kit_platform.queueing.plans import queue_plan
from tests.support.pulumi_harness import RecordingMocks
from tests.support.queue_cases import scheduling_plan_for, settings_for

CHART = "kubernetes:helm.sh/v4:Chart"
NAMESPACE = "kubernetes:core/v1:Namespace"
LAYER = "airflow-kit:queueing:QueueLayer"



def build(plan, settings, monkeypatch):
    """Create the layer under mocks; return (mocks, layer, recorded create_* calls)."""
    calls = []
    real_chart = layer_module.create_chart

    def spy_chart(spec, opts=None):
        resource = real_chart(spec, opts=opts)
        calls.append(("chart", spec.release, opts, resource))
        return resource

    monkeypatch.setattr(layer_module, "create_chart", spy_chart)
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="airflow-kit", stack="test", preview=False)
    holder = {}

    @pulumi.runtime.test
    def run():
        holder["layer"] = QueueLayer("queue", settings, plan)
        return holder["layer"].urn.apply(lambda urn: urn)

    run()
    return mocks, holder["layer"], calls


def test_koord_queue_chart_is_created(monkeypatch):
    settings = settings_for("koord-queue")
    plan = queue_plan(settings, scheduling_plan_for(settings))
    mocks, layer, calls = build(plan, settings, monkeypatch)
    charts = [r for r in mocks.resources if r.typ == CHART]
    assert [c.name for c in charts] == ["koord-queue"]
    inputs = charts[0].inputs
    assert inputs["chart"] == "koord-queue" and inputs["version"] == "1.8.0"
    assert inputs["namespace"] == "koord-queue"
    assert inputs["repositoryOpts"]["repo"] == "https://koordinator-sh.github.io/charts"
    assert inputs["values"]["controller"]["queueGroupPlugin"] == "elasticquotav2"
    assert inputs["values"]["extension"]["batchjob"]["enable"] is True
    assert [r.name for r in mocks.resources if r.typ == NAMESPACE] == ["namespace:koord-queue"]
    assert all(opts.parent is layer for _, _, opts, _ in calls)
    assert layer.plan is plan


@pytest.mark.parametrize("backend", ["none", "ack"])
def test_nothing_to_install(backend, monkeypatch):
    settings = settings_for(backend)
    plan = queue_plan(settings, scheduling_plan_for(settings))
    mocks, layer, calls = build(plan, settings, monkeypatch)
    assert [r.typ for r in mocks.resources] == [LAYER]
    assert calls == [] and layer.charts == []


def test_the_layer_installs_the_queue_chart_only(monkeypatch):
    settings = settings_for("koord-queue")
    plan = queue_plan(settings, scheduling_plan_for(settings))
    mocks, layer, calls = build(plan, settings, monkeypatch)
    assert [what for _, what, _, _ in calls] == ["koord-queue"]
    assert sorted(r.typ for r in mocks.resources) == [LAYER, NAMESPACE, CHART]