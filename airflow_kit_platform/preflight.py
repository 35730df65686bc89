"""Pre-flight: what the target cluster must already have, read before anything is created.

On ACK the kit relies on managed add-ons it does not install; a missing one would otherwise
show up as pods Pending forever or a CRD error halfway through `pulumi up`. Each check reads
the cluster (the kubeconfig Pulumi's Kubernetes provider uses: KUBECONFIG, else
~/.kube/config) and returns one line naming what is missing and how to enable it.
A cluster that does not answer is left to Pulumi's own error.

Checks (scheduler.backend ack):
- the ElasticQuotaTree CRD (capacity scheduling of ACK Pro's scheduler);
- with `quotaTree.owner: kit`, no other ElasticQuotaTree in kube-system (ACK allows one);
- ack-koordinator's `koord-batch`/`koord-free` PriorityClasses, when overcommit teams use them;
- `kube-system/ack-slo-config`, when the kit is to patch it;
- the local-disk StorageClass, unless the kit creates it;
- ack-kube-queue (queue.backend ack) with the batch/v1 Job extension enabled.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from airflow_kit_platform.model.names import PART_OF_LABELS
from airflow_kit_platform.scheduling import ack
from airflow_kit_platform.settings import Settings

KUBE_QUEUE_NAMESPACE = "kube-queue"
KUBE_QUEUE_EXTENSIONS_FLAG = "--enabled-extensions"
KUBE_QUEUE_DEFAULT_EXTENSIONS = ("tfjob", "pytorchjob")  # when the flag is absent
CONSOLE = "ACK console > Clusters > <cluster> > Add-ons"


class PreflightError(Exception):
    """The cluster lacks something the stack needs: one line, nothing created yet."""

    def __init__(self, stack: str, message: str):
        super().__init__(f"stack '{stack}': {message}")


class ClusterReader:
    """The few reads the checks need (a seam: tests give a fake cluster)."""

    def __init__(self, api_client: Any):
        from kubernetes import client

        self.extensions = client.ApiextensionsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.scheduling = client.SchedulingV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)

    def exists(self, read: Callable[[], Any]) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            read()
            return True
        except ApiException as error:
            if error.status == 404:
                return False
            raise

    def crd(self, name: str) -> bool:
        return self.exists(lambda: self.extensions.read_custom_resource_definition(name))

    def quota_trees(self) -> list[dict]:
        group, version = ack.TREE_API_VERSION.split("/")
        found = self.custom.list_namespaced_custom_object(group, version, ack.TREE_NAMESPACE, "elasticquotatrees")
        return found.get("items", [])

    def priority_class(self, name: str) -> bool:
        return self.exists(lambda: self.scheduling.read_priority_class(name))

    def configmap(self, namespace: str, name: str) -> bool:
        return self.exists(lambda: self.core.read_namespaced_config_map(name, namespace))

    def storage_class(self, name: str) -> bool:
        return self.exists(lambda: self.storage.read_storage_class(name))

    def deployment_args(self, namespace: str) -> Optional[list[list[str]]]:
        """Every container's command+args of every Deployment in `namespace`; None when it has none."""
        deployments = self.apps.list_namespaced_deployment(namespace).items
        if not deployments:
            return None
        return [list(container.command or []) + list(container.args or [])
                for deployment in deployments for container in deployment.spec.template.spec.containers]


def enabled_extensions(arguments: list[list[str]]) -> set[str]:
    for argv in arguments:
        for index, argument in enumerate(argv):
            if argument.startswith(KUBE_QUEUE_EXTENSIONS_FLAG):
                value = argument.partition("=")[2] if "=" in argument else (
                    argv[index + 1] if index + 1 < len(argv) else "")
                return {part.strip().lower() for part in value.split(",") if part.strip()}
    return set(KUBE_QUEUE_DEFAULT_EXTENSIONS)


def problems(settings: Settings, cluster: ClusterReader) -> list[str]:
    """What the cluster lacks for this stack, each as one line."""
    if settings.scheduler.backend != "ack":
        return []
    found = []
    if not cluster.crd(ack.TREE_CRD):
        found.append(f"the cluster has no CRD {ack.TREE_CRD}: ACK Pro's scheduler brings it with capacity "
                     "scheduling (an ACK managed Pro cluster, Kubernetes >= 1.20); is this cluster ACK Pro?")
    elif settings.scheduler.quota_tree.owner == "kit":
        others = [tree["metadata"]["name"] for tree in cluster.quota_trees()
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


REACH_TIMEOUT_SECONDS = 5


def reach_error(kubeconfig: str, context: Optional[str] = None, timeout: float = REACH_TIMEOUT_SECONDS) -> Optional[str]:
    """None when the API server answers /version; else why not, in a few words."""
    from kubernetes import client, config

    try:
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        api_client.configuration.retries = 0
        client.VersionApi(api_client).get_code(_request_timeout=timeout)
        return None
    except Exception as error:  # any failure means "not usable"; say which in one line
        reason = getattr(error, "reason", None) or error
        text = " ".join(str(reason).split())
        if "Connection refused" in text:
            return "connection refused"
        if "timed out" in text.lower():
            return f"no answer within {timeout:.0f} s"
        return text[:160]


def check(settings: Settings, api_client: Any = None) -> None:
    """Raise PreflightError with everything missing (ACK stacks; nothing to check elsewhere)."""
    if settings.scheduler.backend != "ack":
        return
    if api_client is None:
        from kubernetes import config

        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        if not os.path.exists(kubeconfig) or reach_error(kubeconfig) is not None:
            return  # Pulumi's provider reports an unreachable cluster itself
        api_client = config.new_client_from_config(config_file=kubeconfig)
    found = problems(settings, ClusterReader(api_client))
    if found:
        raise PreflightError(settings.stack, "; ".join(found))
