"""Chart-owned configuration: the kit's part is merged into what the chart renders.

The "chart" texts below are small stand-ins shaped like koordinator 1.8.0's templates
(same structure and key names), not copies of them.
"""

from __future__ import annotations

import json

import pulumi
import yaml

from airflow_kit_platform.model.names import CHART_OVERRIDE_ANNOTATION
from airflow_kit_platform.scheduling import koordinator
from airflow_kit_platform.scheduling.layer import CRD_TYPE, chart_transform, merge_config_text, merge_documents
from tests.support.scheduling_stacks import NAMESPACE, settings_for

CHART_SCHEDULER_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  resourceName: koord-scheduler
profiles:
  - schedulerName: koord-scheduler
    pluginConfig:
      - name: NodeResourcesFit
        args:
          apiVersion: kubescheduler.config.k8s.io/v1
          kind: NodeResourcesFitArgs
          scoringStrategy: {type: LeastAllocated}
      - name: LoadAwareScheduling
        args:
          apiVersion: kubescheduler.config.k8s.io/v1
          kind: LoadAwareSchedulingArgs
          filterExpiredNodeMetrics: false
          nodeMetricExpirationSeconds: 300
          resourceWeights: {cpu: 1, memory: 1}
          usageThresholds: {cpu: 65, memory: 95}
          estimatedScalingFactors: {cpu: 85, memory: 70}
      - name: ElasticQuota
        args: {apiVersion: kubescheduler.config.k8s.io/v1, kind: ElasticQuotaArgs, quotaGroupNamespace: koordinator-system}
    plugins:
      filter:
        enabled: [{name: Reservation}, {name: LoadAwareScheduling}]
"""

CHART_SLO_CONFIG = '{\n  "enable": false,\n  "metricAggregateDurationSeconds": 60,\n  "cpuReclaimThresholdPercent": 65\n}'

CHART_DESCHEDULER_CONFIG = """\
apiVersion: descheduler/v1alpha2
kind: DeschedulerConfiguration
deschedulingInterval: 10s
profiles:
- name: koord-descheduler
  plugins:
    deschedule:
      disabled: [{name: "*"}]
    evict:
      disabled: [{name: "*"}]
      enabled: [{name: MigrationController}]
  pluginConfig:
  - name: MigrationController
    args: {apiVersion: descheduler/v1alpha2, kind: MigrationControllerArgs, evictionPolicy: Eviction}
  - name: LowNodeLoad
    args:
      apiVersion: descheduler/v1alpha2
      kind: LowNodeLoadArgs
      evictableNamespaces: {exclude: [kube-system, koordinator-system]}
      useDeviationThresholds: false
      lowThresholds: {cpu: 45, memory: 55}
      highThresholds: {cpu: 75, memory: 80}
"""


def _override(name):
    plan = koordinator.plan(settings_for("koordinator"))
    (manifest,) = [m for m in plan.core_objects if m["metadata"]["name"] == name]
    return manifest


def test_load_aware_args_replace_only_what_the_kit_sets():
    override = _override("koord-scheduler-config")
    merged = yaml.safe_load(merge_config_text(CHART_SCHEDULER_CONFIG, override["data"]["koord-scheduler-config"]))
    chart = yaml.safe_load(CHART_SCHEDULER_CONFIG)
    assert merged["leaderElection"] == chart["leaderElection"]
    (profile,) = merged["profiles"]
    assert [p["name"] for p in profile["pluginConfig"]] == ["NodeResourcesFit", "LoadAwareScheduling", "ElasticQuota"]
    args = profile["pluginConfig"][1]["args"]
    assert args["usageThresholds"] == {"cpu": 70, "memory": 85}
    assert args["estimatedScalingFactors"] == {"cpu": 80, "memory": 60}
    assert args["nodeMetricExpirationSeconds"] == 240
    assert args["filterExpiredNodeMetrics"] is False and args["resourceWeights"] == {"cpu": 1, "memory": 1}
    assert profile["pluginConfig"][0] == chart["profiles"][0]["pluginConfig"][0]
    assert profile["plugins"] == chart["profiles"][0]["plugins"]


def test_colocation_config_stays_json():
    override = _override("slo-controller-config")
    text = merge_config_text(CHART_SLO_CONFIG, override["data"]["colocation-config"])
    assert json.loads(text) == {"enable": True, "metricAggregateDurationSeconds": 60,
                                "cpuReclaimThresholdPercent": 55, "memoryReclaimThresholdPercent": 62}


def test_low_node_load_is_switched_on_with_include_replacing_exclude():
    override = _override("koord-descheduler-config")
    merged = yaml.safe_load(merge_config_text(CHART_DESCHEDULER_CONFIG,
                                              override["data"]["koord-descheduler-config"]))
    (profile,) = merged["profiles"]
    assert profile["plugins"]["balance"] == {"enabled": [{"name": "LowNodeLoad"}]}
    assert profile["plugins"]["deschedule"] == {"disabled": [{"name": "*"}]}
    migration, low = profile["pluginConfig"]
    assert migration["args"]["evictionPolicy"] == "Eviction"
    assert low["args"]["evictableNamespaces"] == {"include": [NAMESPACE]}
    assert low["args"]["highThresholds"] == {"cpu": 70, "memory": 85}
    assert merged["deschedulingInterval"] == "10s"


def test_missing_chart_key_takes_the_kits_text_without_nulls():
    override = _override("koord-descheduler-config")
    merged = yaml.safe_load(merge_config_text(None, override["data"]["koord-descheduler-config"]))
    args = merged["profiles"][0]["pluginConfig"][0]["args"]
    assert args["evictableNamespaces"] == {"include": [NAMESPACE]}


def test_merge_documents_rules():
    assert merge_documents({"a": 1, "b": {"c": 2}}, {"b": {"d": 3}, "a": None}) == {"b": {"c": 2, "d": 3}}
    assert merge_documents([1, 2], [3]) == [3]  # plain lists are replaced
    assert merge_documents([{"name": "x", "v": 1}], [{"name": "y", "v": 2}]) == [
        {"name": "x", "v": 1}, {"name": "y", "v": 2}]


def _args(type_, props, opts=None):
    return pulumi.ResourceTransformArgs(custom=True, type_=type_, name="child", props=props,
                                        opts=opts or pulumi.ResourceOptions())


def test_transform_merges_the_chart_object_and_retains_crds():
    plan = koordinator.plan(settings_for("koordinator"))
    (chart,) = plan.charts
    transform = chart_transform(chart, list(plan.core_objects), retain_crds=True)
    assert len(transform.expected) == 3

    props = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "koord-scheduler-config", "namespace": "koordinator-system",
                          "annotations": {"meta.helm.sh/release-name": "koordinator"}},
             "data": {"koord-scheduler-config": CHART_SCHEDULER_CONFIG}}
    result = transform(_args("kubernetes:core/v1:ConfigMap", props))
    assert result is not None
    assert result.props["metadata"]["annotations"] == {"meta.helm.sh/release-name": "koordinator",
                                                       CHART_OVERRIDE_ANNOTATION: "koordinator"}
    merged = yaml.safe_load(result.props["data"]["koord-scheduler-config"])
    assert merged["profiles"][0]["pluginConfig"][1]["args"]["usageThresholds"] == {"cpu": 70, "memory": 85}
    assert props["data"]["koord-scheduler-config"] == CHART_SCHEDULER_CONFIG  # input untouched

    # the chart's namespace is assumed when the template leaves it out
    props = {"metadata": {"name": "slo-controller-config"}, "data": {"colocation-config": CHART_SLO_CONFIG}}
    result = transform(_args("kubernetes:core/v1:ConfigMap", props))
    assert json.loads(result.props["data"]["colocation-config"])["enable"] is True
    assert len(transform.applied) == 2

    assert transform(_args("kubernetes:core/v1:ConfigMap", {"metadata": {"name": "other"}, "data": {}})) is None
    assert transform(_args("kubernetes:apps/v1:Deployment", {"metadata": {"name": "koord-manager"}})) is None
    crd = transform(_args(CRD_TYPE, {"metadata": {"name": "elasticquotas.scheduling.sigs.k8s.io"}}))
    assert crd.opts.retain_on_delete is True


def test_transform_without_retention_leaves_crds_alone():
    plan = koordinator.plan(settings_for("koordinator"))
    transform = chart_transform(plan.charts[0], [], retain_crds=False)
    assert transform(_args(CRD_TYPE, {"metadata": {"name": "x"}})) is None
