"""Namespaces per team (`teamNamespaces`): what a team's task pods need in their own namespace.

ACK charges a pod to the ElasticQuotaTree leaf that lists the pod's namespace, so there each
leaf team runs in `<namespace>-<team>`; elsewhere it is an option for namespace isolation.
KubernetesExecutor creates the pods there (the DAG helper's pod_override names the team's
namespace; `multi_namespace_mode` with exactly these namespaces). A pod mounts only objects of
its own namespace, so each team namespace gets, created and deleted with the stack:

* the Namespace (labelled with the team and the stack);
* the kit's pod-template ConfigMap (the DAG file re-parsed in the task pod reads teams.json);
* the chart's airflow.cfg ConfigMap (`<fullname>-config`), copied from what the chart renders
  (the Platform wires its data; nothing here knows the chart's text);
* ServiceAccount `<fullname>-worker` (the template's), bound to a Role of this namespace only
  that lets a task launch and follow pods and Jobs (KubernetesPodOperator, the queued Job
  operator) in its own namespace and nowhere else.

Secrets are NOT copied: a task reads connections and variables through the Execution API; a
team with `metadataAccess: true` needs the metadata Secrets and is refused with team namespaces
(settings, with the other teamNamespaces rules).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from airflow_kit_platform.airflow.chart_names import CHART, ChartNames
from airflow_kit_platform.k8s_objects import create_object
from airflow_kit_platform.model.names import TEAM_LABEL, part_of
from airflow_kit_platform.settings import Settings

TASK_LAUNCHER_ROLE = "airflow-kit-task-launcher"
STACK_LABEL = "airflow-kit/stack"


def team_namespaces(settings: Settings) -> dict[str, str]:
    """Leaf team -> its namespace, for the teams that run outside the stack's namespace."""
    if not settings.team_namespaces:
        return {}
    return {team.name: settings.task_namespace(team.name) for team in settings.teams.leaves()}


def namespace_manifest(settings: Settings, team: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": part_of({TEAM_LABEL: team, STACK_LABEL: settings.namespace})}}


def worker_service_account(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": names.worker_service_account, "namespace": namespace, "labels": part_of()}}


def task_launcher_role(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": TASK_LAUNCHER_ROLE, "namespace": namespace, "labels": part_of()},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"],
             "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
            {"apiGroups": ["batch"], "resources": ["jobs"],
             "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
        ],
    }


def task_launcher_binding(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": TASK_LAUNCHER_ROLE, "namespace": namespace, "labels": part_of()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TASK_LAUNCHER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": names.worker_service_account, "namespace": namespace}],
    }


def copy_to(manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The same object in another namespace."""
    metadata = {**manifest["metadata"], "namespace": namespace}
    return {**manifest, "metadata": metadata}


def namespace_objects(settings: Settings, namespace: str, pod_templates: Mapping[str, Any],
                      names: ChartNames = CHART) -> list[dict[str, Any]]:
    """Everything of one team namespace except the airflow.cfg copy (its data is the chart's)."""
    return [copy_to(pod_templates, namespace), worker_service_account(namespace, names),
            task_launcher_role(namespace), task_launcher_binding(namespace, names)]


def config_copy(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    """The airflow.cfg ConfigMap of a team namespace, without data (the chart's is filled in)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.config_configmap, "namespace": namespace,
                         "labels": part_of({"airflow-kit/copy-of": names.config_configmap})}}


def chart_configmap_data(chart: k8s.helm.v4.Chart, name: str) -> pulumi.Output:
    """The `data` of the ConfigMap `name` the chart renders (None when it renders none)."""
    def meta_name(metadata: Any) -> Any:
        return getattr(metadata, "name", None) or (metadata.get("name") if isinstance(metadata, dict) else None)

    def pick(resources: Any) -> Any:
        configmaps = [item for item in resources or [] if isinstance(item, k8s.core.v1.ConfigMap)]
        return pulumi.Output.all(*[item.metadata for item in configmaps]).apply(
            lambda metas: next((configmaps[index].data for index, metadata in enumerate(metas)
                                if meta_name(metadata) == name), None))

    return chart.resources.apply(pick)


class TeamNamespaces(pulumi.ComponentResource):
    """Each team namespace and what its task pods mount, before anything is placed in them."""

    def __init__(self, name: str, settings: Settings, pod_templates: Mapping[str, Any],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:workloads:TeamNamespaces", name, None, opts)
        self.namespaces: dict[str, pulumi.Resource] = {}
        for team, namespace in team_namespaces(settings).items():
            created = create_object(namespace_manifest(settings, team, namespace),
                                    opts=pulumi.ResourceOptions(parent=self))
            inside = pulumi.ResourceOptions(parent=self, depends_on=[created])
            for manifest in namespace_objects(settings, namespace, pod_templates):
                create_object(manifest, opts=inside)
            self.namespaces[namespace] = created
        self.register_outputs({"namespaces": sorted(self.namespaces)})


class TeamAirflowConfig(pulumi.ComponentResource):
    """airflow.cfg in every team namespace: the data of the ConfigMap the chart renders."""

    def __init__(self, name: str, namespaces: TeamNamespaces, chart: k8s.helm.v4.Chart,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:workloads:TeamAirflowConfig", name, None, opts)
        data = chart_configmap_data(chart, CHART.config_configmap)
        for namespace, created in namespaces.namespaces.items():
            create_object({**config_copy(namespace), "data": data},
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[created]))
        self.register_outputs({"namespaces": sorted(namespaces.namespaces)})
