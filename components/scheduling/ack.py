"""The ACK backend: Alibaba Cloud ACK Pro's own scheduler with its managed add-ons.

The design and why: docs/backend-ack.md.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Mapping, Optional

import yaml

from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.model.names import TEAM_LABEL, cluster_name, part_of, require_label_value
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.quantities import format_quantity, parse_quantity
from airflow_kit_platform.scheduling.backend import PodMarks, SchedulingPlan
from airflow_kit_platform.scheduling.default import priority_class_name, priority_classes

# koordlet reads the QoS label and the colocation-config document on ACK too, and ACK's BE
# pods use ack-koordinator's PriorityClasses as Koordinator's do.
from airflow_kit_platform.scheduling.koordinator import LABEL_QOS, colocation_config, overcommit_teams
from airflow_kit_platform.scheduling.koordinator import priority_class_name as koord_priority_class
from airflow_kit_platform.settings import Settings

BACKEND = "ack"
TREE_API_VERSION = "scheduling.sigs.k8s.io/v1beta1"
TREE_KIND = "ElasticQuotaTree"
TREE_CRD = "elasticquotatrees.scheduling.sigs.k8s.io"
TREE_NAME = "elasticquotatree"
TREE_NAMESPACE = "kube-system"
ROOT_NODE = "root"
# ack-kube-queue (and koord-queue's tree plugin) map a Job to a leaf by this label.
JOB_QUOTA_LABEL = "quota.scheduling.alibabacloud.com/name"
SLO_CONFIG = "ack-slo-config"
SLO_CONFIG_KEY = "colocation-config"
LOCAL_DISK_PROVISIONER = "localplugin.csi.alibabacloud.com"
LOCAL_DISK_VOLUME_GROUP = "volumegroup1"  # the CSI local plugin's default VG name


def node_name(settings: Settings, team: str) -> str:
    """A team's node in the cluster's one tree: `<namespace>-<team>` (other stacks share the tree)."""
    return cluster_name(settings.namespace, team)


def _add(values: list[Mapping[str, str]]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for value in values:
        for resource, quantity in value.items():
            total[resource] = total.get(resource, Decimal(0)) + parse_quantity(quantity)
    return total


def _largest(values: list[Mapping[str, str]]) -> dict[str, Decimal]:
    top: dict[str, Decimal] = {}
    for value in values:
        for resource, quantity in value.items():
            top[resource] = max(top.get(resource, Decimal(0)), parse_quantity(quantity))
    return top


def _formatted(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {resource: format_quantity(resource, amount) for resource, amount in sorted(values.items())}


def _team_node(settings: Settings, team: Team) -> dict[str, Any]:
    node: dict[str, Any] = {"name": node_name(settings, team.name), "min": dict(team.min), "max": dict(team.max)}
    children = settings.teams.children(team.name)
    if children:
        node["children"] = [_team_node(settings, child) for child in children]
    else:
        node["namespaces"] = [settings.task_namespace(team.name)]
    return node


def quota_subtree(settings: Settings) -> dict[str, Any]:
    """The kit's part of the tree: one node for the stack (its namespace) over the team nodes."""
    top = settings.teams.children(None)
    return {"name": settings.namespace,
            "min": _formatted(_add([team.min for team in top])),
            "max": _formatted(_largest([team.max for team in top])),
            "children": [_team_node(settings, team) for team in top]}


def root_capacity(settings: Settings) -> dict[str, str]:
    given = settings.scheduler.quota_tree.root
    if given:
        return {resource: given[resource] for resource in sorted(given)}
    return dict(quota_subtree(settings)["max"])


def quota_tree(settings: Settings) -> dict[str, Any]:
    """The whole ElasticQuotaTree the kit owns (`scheduler.quotaTree.owner: kit`)."""
    capacity = root_capacity(settings)
    return {
        "apiVersion": TREE_API_VERSION,
        "kind": TREE_KIND,
        "metadata": {"name": TREE_NAME, "namespace": TREE_NAMESPACE, "labels": part_of()},
        "spec": {"root": {"name": ROOT_NODE, "min": dict(capacity), "max": dict(capacity),
                          "children": [quota_subtree(settings)]}},
    }


def _check_node(settings: Settings, node: Mapping[str, Any], key: str, seen_namespaces: dict[str, str]) -> None:
    """ACK's tree rules for one node and its children: min <= max; the children's mins added
    up fit the node's min; no child's max above the node's; a namespace in one leaf only."""
    for resource, low in node.get("min", {}).items():
        high = node.get("max", {}).get(resource)
        if high is not None and parse_quantity(low) > parse_quantity(high):
            raise ConfigError(settings.stack, f"{key}.min.{resource}", low, f"must not exceed max.{resource} {high}")
    children = node.get("children") or []
    for resource, total in _add([child.get("min", {}) for child in children]).items():
        own = node.get("min", {}).get(resource)
        if own is None or total > parse_quantity(own):
            child = max(children, key=lambda c: parse_quantity(c.get("min", {}).get(resource, "0")))
            raise ConfigError(settings.stack, _team_key(settings, child, "min", resource),
                              child["min"][resource],
                              f"the mins of '{node['name']}''s children add up to {format_quantity(resource, total)} "
                              f"{resource}, more than its min {own or 0}: ACK requires children's min sum <= the "
                              "parent's min")
    for child in children:
        for resource, high in child.get("max", {}).items():
            ceiling = node.get("max", {}).get(resource)
            if ceiling is not None and parse_quantity(high) > parse_quantity(ceiling):
                raise ConfigError(settings.stack, _team_key(settings, child, "max", resource), high,
                                  f"must not exceed its parent '{node['name']}' max.{resource} {ceiling} "
                                  "(ACK's ElasticQuotaTree rule)")
        _check_node(settings, child, _team_key(settings, child), seen_namespaces)
    for namespace in node.get("namespaces") or []:
        if namespace in seen_namespaces:
            raise ConfigError(settings.stack, key, node["name"],
                              f"namespace {namespace} is already in leaf '{seen_namespaces[namespace]}': ACK maps a "
                              "namespace to one leaf only")
        seen_namespaces[namespace] = node["name"]


def _team_key(settings: Settings, node: Mapping[str, Any], *path: str) -> str:
    prefix = f"{settings.namespace}-"
    name = node["name"][len(prefix):] if node["name"].startswith(prefix) else node["name"]
    if name in {team.name for team in settings.teams}:
        return ".".join([f"teams[{name}]", *path])
    return ".".join(["scheduler.quotaTree", *path])


def validate(settings: Settings) -> None:
    """What ACK would refuse (or silently misread), said before anything is applied."""
    for team in settings.teams:
        require_label_value(settings.stack, team.name, node_name(settings, team.name), "quota node",
                            "Jobs name their leaf")
    subtree = quota_subtree(settings)
    _check_node(settings, subtree, "teams", {})
    capacity = root_capacity(settings)
    for field in ("min", "max"):
        for resource, amount in subtree[field].items():
            if resource not in capacity or parse_quantity(amount) > parse_quantity(capacity[resource]):
                raise ConfigError(settings.stack, f"scheduler.quotaTree.root.{resource}", capacity.get(resource),
                                  f"must hold the teams' {field} {amount} {resource} (the root's min == max is "
                                  "what the tree may hand out)")


def pod_marks(settings: Settings, team: Team, best_effort: bool) -> PodMarks:
    # The leaf label is what ack-kube-queue routes a Job by (pods are charged by namespace); the
    # DAG helper's Job operator copies the team's labels onto its Job.
    labels = {TEAM_LABEL: team.name, JOB_QUOTA_LABEL: node_name(settings, team.name)}
    if best_effort:
        labels[LABEL_QOS] = "BE"
    return PodMarks(
        scheduler_name=settings.scheduler.scheduler_name,
        labels=labels,
        priority_class_name=(koord_priority_class(team, best_effort=True) if best_effort
                             else priority_class_name(settings.namespace, team.priority)),
        batch_resources=best_effort,  # the namespace: plans.scheduling_plan, as for every backend
    )


def slo_config_patch(settings: Settings) -> dict[str, Any]:
    """The one key of ack-slo-config the kit changes (a ConfigMapPatch: the add-on keeps the rest)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMapPatch",
        "metadata": {"name": SLO_CONFIG, "namespace": TREE_NAMESPACE,
                     "annotations": {"pulumi.com/patchFieldManager": f"airflow-kit-{settings.namespace}"}},
        "data": {SLO_CONFIG_KEY: json.dumps(colocation_config(settings), sort_keys=True)},
    }


def slo_config_command(settings: Settings) -> str:
    patch = json.dumps({"data": {SLO_CONFIG_KEY: json.dumps(colocation_config(settings), sort_keys=True)}})
    return f"kubectl -n {TREE_NAMESPACE} patch configmap {SLO_CONFIG} --type merge -p '{patch}'"


def local_disk_storage_class(settings: Settings) -> Optional[dict[str, Any]]:
    disk = settings.local_disk
    if disk is None or not disk.create_storage_class:
        return None
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": disk.storage_class, "labels": part_of()},
        "provisioner": LOCAL_DISK_PROVISIONER,
        "parameters": {"volumeType": "LVM", "vgName": LOCAL_DISK_VOLUME_GROUP, "fsType": "ext4",
                       "lvmType": "striping"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def _ls_tiers_in_use(settings: Settings) -> set[str]:
    best_effort = {team.name for team in overcommit_teams(settings)}
    return {team.priority for team in settings.teams.leaves() if team.name not in best_effort}


def plan(settings: Settings) -> SchedulingPlan:
    validate(settings)
    best_effort = {team.name for team in overcommit_teams(settings)}
    ls_classes = {priority_class_name(settings.namespace, tier) for tier in _ls_tiers_in_use(settings)}
    core: list[Mapping[str, Any]] = [manifest for manifest in priority_classes(settings.namespace, settings.teams)
                                     if manifest["metadata"]["name"] in ls_classes]
    storage_class = local_disk_storage_class(settings)
    if storage_class is not None:
        core.append(storage_class)
    if best_effort and settings.scheduler.overcommit.manage_slo_config:
        core.append(slo_config_patch(settings))
    custom = (quota_tree(settings),) if settings.scheduler.quota_tree.owner == "kit" else ()
    return SchedulingPlan(
        backend=BACKEND,
        custom_resources=custom,
        core_objects=tuple(core),
        pod_marks={team.name: pod_marks(settings, team, team.name in best_effort)
                   for team in settings.teams.leaves()},
    )


def required_priority_classes(settings: Settings) -> list[str]:
    """ack-koordinator's PriorityClasses the stack's BE pods name (the pre-flight checks them)."""
    return sorted({koord_priority_class(team, best_effort=True) for team in overcommit_teams(settings)})


def notes(settings: Settings) -> tuple[str, ...]:
    scheduler = settings.scheduler
    found = []
    if scheduler.load_aware.enabled:
        found.append("ack: load-aware scheduling is a kube-scheduler add-on parameter, set in the ACK console "
                     "(Add-ons > kube-scheduler): loadAwareThreshold cpu "
                     f"{scheduler.load_aware.cpu_threshold_percent} / memory "
                     f"{scheduler.load_aware.memory_threshold_percent}; the kit cannot set it")
    if overcommit_teams(settings) and not scheduler.overcommit.manage_slo_config:
        found.append(f"ack: colocation (batch resources for overcommit teams) needs {TREE_NAMESPACE}/{SLO_CONFIG} "
                     f"{SLO_CONFIG_KEY} enabled; the kit leaves the add-on's ConfigMap alone "
                     f"(scheduler.overcommit.manageSloConfig: false). Run: {slo_config_command(settings)}")
    if scheduler.quota_tree.owner == "admin":
        found.append("ack: scheduler.quotaTree.owner is admin: the kit creates no ElasticQuotaTree; merge its "
                     "subtree (stack output quotaSubtree, file "
                     f"{subtree_file(settings)}) under the root of {TREE_NAMESPACE}'s tree")
    ignored = [team.name for team in settings.teams.leaves() if team.overcommit and not scheduler.overcommit.enabled]
    if ignored:
        found.append(f"teams {', '.join(ignored)} ask for overcommit but scheduler.overcommit.enabled is false: "
                     "they run as LS")
    return tuple(found)


def subtree_file(settings: Settings) -> str:
    """Where the kit writes its subtree for the cluster admin (relative to the project)."""
    return f"exports/{settings.stack}-elasticquotatree-subtree.yaml"


def outputs(settings: Settings) -> dict[str, Any]:
    """What to merge into the cluster's tree when its admin owns it (also written to a file)."""
    return {"quotaSubtree": quota_subtree(settings)}


def exports(settings: Settings) -> dict[str, str]:
    """Files for the cluster admin who owns the tree: the kit's subtree to merge, by path."""
    if settings.scheduler.quota_tree.owner != "admin":
        return {}
    header = (f"# Stack {settings.stack}: add this node under the root of {TREE_NAMESPACE}'s "
              "ElasticQuotaTree (root min and max must hold its min and max).\n")
    return {subtree_file(settings): header + yaml.safe_dump(quota_subtree(settings), sort_keys=False)}
