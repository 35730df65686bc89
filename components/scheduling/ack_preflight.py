"""ACK's pre-flight: the managed add-ons a stack relies on, read from the cluster before anything is
created (components/preflight.py runs it with a ClusterReader).

Checks: the ElasticQuotaTree CRD (capacity scheduling of ACK Pro's scheduler); with
`quotaTree.owner: kit`, no other ElasticQuotaTree in kube-system (ACK allows one);
ack-koordinator's `koord-batch`/`koord-free` PriorityClasses, when overcommit teams use them;
`kube-system/ack-slo-config`, when the kit is to patch it; the local-disk StorageClass, unless
the kit creates it; ack-kube-queue (queue.backend ack) with the batch/v1 Job extension enabled.
"""

from __future__ import annotations

from typing import Any

from airflow_kit_platform.model.names import PART_OF_LABELS
from airflow_kit_platform.scheduling import ack
from airflow_kit_platform.settings import Settings

KUBE_QUEUE_NAMESPACE = "kube-queue"
KUBE_QUEUE_EXTENSIONS_FLAG = "--enabled-extensions"
KUBE_QUEUE_DEFAULT_EXTENSIONS = ("tfjob", "pytorchjob")  # when the flag is absent
CONSOLE = "ACK console > Clusters > <cluster> > Add-ons"


def enabled_extensions(arguments: list[list[str]]) -> set[str]:
    for argv in arguments:
        for index, argument in enumerate(argv):
            if argument.startswith(KUBE_QUEUE_EXTENSIONS_FLAG):
                value = argument.partition("=")[2] if "=" in argument else (
                    argv[index + 1] if index + 1 < len(argv) else "")
                return {part.strip().lower() for part in value.split(",") if part.strip()}
    return set(KUBE_QUEUE_DEFAULT_EXTENSIONS)


def preflight(settings: Settings, cluster: Any) -> list[str]:
    """What the cluster lacks for this stack, each as one line."""
    found = []
    if not cluster.crd(ack.TREE_CRD):
        found.append(f"the cluster has no CRD {ack.TREE_CRD}: ACK Pro's scheduler brings it with capacity "
                     "scheduling (an ACK managed Pro cluster, Kubernetes >= 1.20); is this cluster ACK Pro?")
    elif settings.scheduler.quota_tree.owner == "kit":
        others = [tree["metadata"]["name"] for tree in cluster.custom_objects(ack.TREE_API_VERSION, ack.TREE_NAMESPACE, "elasticquotatrees")
                  if tree["metadata"]["name"] != ack.TREE_NAME
                  or (tree["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of")
                  != PART_OF_LABELS["app.kubernetes.io/part-of"]]
        if others:
            found.append(f"{ack.TREE_NAMESPACE} already has ElasticQuotaTree {', '.join(others)} and ACK allows one "
                         "per cluster: set scheduler.quotaTree.owner: admin and merge the kit's subtree "
                         f"({ack.subtree_file(settings)}) into it")
    for name in ack.required_priority_classes(settings):
        if not cluster.priority_class(name):
            found.append(f"PriorityClass {name} is missing: overcommit teams run as BE at {name}, which "
                         f"ack-koordinator installs ({CONSOLE} > ack-koordinator)")
    if (ack.overcommit_teams(settings) and settings.scheduler.overcommit.manage_slo_config
            and not cluster.configmap(ack.TREE_NAMESPACE, ack.SLO_CONFIG)):
        found.append(f"ConfigMap {ack.TREE_NAMESPACE}/{ack.SLO_CONFIG} is missing: install ack-koordinator "
                     f"({CONSOLE}) before the kit patches its colocation-config")
    disk = settings.local_disk
    if disk is not None and not disk.create_storage_class and not cluster.storage_class(disk.storage_class):
        found.append(f"StorageClass {disk.storage_class} (localDisk.storageClass) is missing: install the CSI "
                     f"local plugin ({CONSOLE} > csi-local-plugin) and set localDisk.createStorageClass: true, "
                     "or name a class the cluster has")
    if settings.queue.backend == "ack":
        arguments = cluster.deployment_args(KUBE_QUEUE_NAMESPACE)
        if arguments is None:
            found.append(f"ack-kube-queue is not installed (no Deployment in namespace {KUBE_QUEUE_NAMESPACE}): "
                         f"{CONSOLE} > ack-kube-queue, or queue.backend: none")
        elif "job" not in (extensions := enabled_extensions(arguments)):
            found.append(f"ack-kube-queue does not queue batch/v1 Jobs ({KUBE_QUEUE_EXTENSIONS_FLAG} is "
                         f"{','.join(sorted(extensions))}): enable the Job extension in "
                         f"{CONSOLE} > ack-kube-queue > Job Extensions")
    return found
