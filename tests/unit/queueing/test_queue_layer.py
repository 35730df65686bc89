"""QueueLayer under Pulumi mocks: the chart, then the plan's objects, all children of the layer."""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pytest

from airflow_kit_platform.queueing import layer as layer_module
from airflow_kit_platform.queueing.layer import QueueLayer
from airflow_kit_platform.queueing.plans import queue_plan
from tests.pulumi_harness import RecordingMocks
from tests.unit.queueing.queue_cases import scheduling_plan_for, settings_for

CHART = "kubernetes:helm.sh/v4:Chart"
NAMESPACE = "kubernetes:core/v1:Namespace"
LAYER = "airflow-kit:queueing:QueueLayer"

# A stand-in object to exercise the custom-resource path (the real plans hold none: koord-queue
# creates its Queues itself).
SAMPLE_CR = {"apiVersion": "example.com/v1", "kind": "Sample",
             "metadata": {"name": "sample", "namespace": "koord-queue"}, "spec": {"x": 1}}
SAMPLE_CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "queue-notes", "namespace": "koord-queue"}, "data": {"a": "b"}}


def build(plan, settings, monkeypatch):
    """Create the layer under mocks; return (mocks, layer, recorded create_* calls)."""
    calls = []
    real_chart, real_object = layer_module.create_chart, layer_module.create_object

    def spy_chart(spec, opts=None):
        resource = real_chart(spec, opts=opts)
        calls.append(("chart", spec.release, opts, resource))
        return resource

    def spy_object(manifest, opts=None, name=None):
        resource = real_object(manifest, opts=opts, name=name)
        calls.append(("object", manifest["kind"], opts, resource))
        return resource

    monkeypatch.setattr(layer_module, "create_chart", spy_chart)
    monkeypatch.setattr(layer_module, "create_object", spy_object)
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


def test_custom_resources_follow_the_chart_and_are_retained(monkeypatch):
    settings = settings_for("koord-queue")
    plan = replace(queue_plan(settings, scheduling_plan_for(settings)),
                   custom_resources=(SAMPLE_CR,), core_objects=(SAMPLE_CONFIGMAP,))
    mocks, layer, calls = build(plan, settings, monkeypatch)
    by_kind = {what: (opts, resource) for _, what, opts, resource in calls}
    chart = by_kind["koord-queue"][1]
    cr_opts, _ = by_kind["Sample"]
    assert cr_opts.retain_on_delete is True
    assert chart in cr_opts.depends_on
    cm_opts, _ = by_kind["ConfigMap"]
    assert not cm_opts.retain_on_delete
    assert sorted(r.typ for r in mocks.resources) == [
        LAYER, "kubernetes:core/v1:ConfigMap", NAMESPACE, "kubernetes:example.com/v1:Sample", CHART]
