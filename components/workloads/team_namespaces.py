"""Namespaces per team (`teamNamespaces`): what a team's task pods need in their own namespace.

ACK charges a pod to the ElasticQuotaTree leaf that lists the pod's namespace, so there each
leaf team runs in `<namespace>-<team>`; elsewhere it is an option for namespace isolation.
KubernetesExecutor creates the pods there (the DAG helper's pod_override names the team's
namespace; `multi_namespace_mode` with exactly these namespaces). A pod mounts only objects of
its own namespace, so each team namespace gets, created and deleted with the stack:

* the Namespace (labelled with the team and the stack; Pod Security `restricted`: pod_security);
* the kit's pod-template ConfigMap (the DAG file re-parsed in the task pod reads teams.json);
* the chart's airflow.cfg ConfigMap (`<fullname>-config`), copied from what the chart renders
  (the Platform wires its data; nothing here knows the chart's text);
* with `airflow.logsVolume.source`, the logs claim bound to a volume on the shared storage
  (airflow/logs_volume.py), so a task's log outlives its pod here too;
* ServiceAccount `<fullname>-worker` (the template's), bound to a Role of this namespace only
  that lets a task launch and follow pods and Jobs (KubernetesPodOperator, the queued Job
  operator) in its own namespace and nowhere else;
* what Airflow's own accounts (in the stack's namespace) need here, as Roles of this namespace:
  the scheduler creates, watches, adopts and deletes task pods (KubernetesExecutor); Celery
  workers and the triggerer launch and follow pods and Jobs for the team's tasks; the API server
  reads a running task's log. The chart's `multiNamespaceMode` would grant the same through
  ClusterRoles bound cluster-wide (pods create and exec in kube-system included: a Celery task
  could take over the cluster), so the kit leaves it off and the executor's
  `multi_namespace_mode_namespace_list` names exactly these namespaces.

Secrets are NOT copied: a task reads connections and variables through the Execution API; a
team with `metadataAccess: true` needs the metadata Secrets and is refused with team namespaces
(settings, with the other teamNamespaces rules).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from airflow_kit_platform.airflow.chart_names import CHART, ChartNames
from airflow_kit_platform.airflow.logs_volume import logs_volume_objects
from airflow_kit_platform.airflow.values import uses_celery
from airflow_kit_platform.k8s_objects import create_object
from airflow_kit_platform.model.names import TEAM_LABEL, part_of
from airflow_kit_platform.model.pod_security import TEAM_NAMESPACE_LEVEL, namespace_labels
from airflow_kit_platform.settings import Settings

TASK_LAUNCHER_ROLE = "airflow-kit-task-launcher"
EXECUTOR_ROLE = "airflow-kit-executor"
LOG_READER_ROLE = "airflow-kit-log-reader"
AIRFLOW_LAUNCHERS = "airflow-kit-airflow-launchers"  # the binding of the stack's Celery workers and triggerer
STACK_LABEL = "airflow-kit/stack"


def team_namespaces(settings: Settings) -> dict[str, str]:
    """Leaf team -> its namespace, for the teams that run outside the stack's namespace."""
    if not settings.team_namespaces:
        return {}
    return {team.name: settings.task_namespace(team.name) for team in settings.teams.leaves()}


def namespace_manifest(settings: Settings, team: str, namespace: str) -> dict[str, Any]:
    labels = part_of({TEAM_LABEL: team, STACK_LABEL: settings.namespace, **namespace_labels(TEAM_NAMESPACE_LEVEL)})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}


def worker_service_account(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": names.worker_service_account, "namespace": namespace, "labels": part_of()}}


def task_launcher_role(namespace: str) -> dict[str, Any]:
    return role(namespace, TASK_LAUNCHER_ROLE, [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
    ])


def task_launcher_binding(namespace: str, names: ChartNames = CHART) -> dict[str, Any]:
    return binding(namespace, TASK_LAUNCHER_ROLE, TASK_LAUNCHER_ROLE, [names.worker_service_account], namespace)


def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace, "labels": part_of()}, "rules": rules}


def binding(namespace: str, name: str, role_name: str, accounts: list[str], accounts_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace, "labels": part_of()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": accounts_namespace}
                     for account in accounts],
    }


def airflow_access(settings: Settings, namespace: str, names: ChartNames = CHART) -> list[dict[str, Any]]:
    """The Roles and RoleBindings of one team namespace for Airflow's accounts in the stack's."""
    launchers = ([names.worker_service_account] if uses_celery(settings) else []) + [names.triggerer_service_account]
    return [
        role(namespace, EXECUTOR_ROLE, [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete", "patch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
        ]),
        binding(namespace, EXECUTOR_ROLE, EXECUTOR_ROLE, [names.scheduler_service_account], settings.namespace),
        binding(namespace, AIRFLOW_LAUNCHERS, TASK_LAUNCHER_ROLE, launchers, settings.namespace),
        role(namespace, LOG_READER_ROLE, [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        ]),
        binding(namespace, LOG_READER_ROLE, LOG_READER_ROLE, [names.api_server_service_account], settings.namespace),
    ]


def copy_to(manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The same object in another namespace."""
    metadata = {**manifest["metadata"], "namespace": namespace}
    return {**manifest, "metadata": metadata}


def namespace_objects(settings: Settings, namespace: str, pod_templates: Mapping[str, Any],
                      names: ChartNames = CHART) -> list[dict[str, Any]]:
    """Everything of one team namespace except the airflow.cfg copy (its data is the chart's)."""
    return [copy_to(pod_templates, namespace), worker_service_account(namespace, names),
            task_launcher_role(namespace), task_launcher_binding(namespace, names),
            *airflow_access(settings, namespace, names), *logs_volume_objects(settings, namespace)]


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
