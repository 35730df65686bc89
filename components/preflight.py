"""Pre-flight: what the target cluster must already have, read before anything is created.

A backend that relies on add-ons it does not install (ACK's managed ones) checks the cluster
through its `preflight(settings, cluster)` (scheduling/ack_preflight.py); a missing add-on would
otherwise show up as pods Pending forever or a CRD error halfway through `pulumi up`. The
cluster is the one Pulumi's Kubernetes provider uses (KUBECONFIG, else ~/.kube/config); each
problem is one line naming what is missing and how to enable it. A cluster that does not answer
is left to Pulumi's own error.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from airflow_kit_platform.scheduling.plans import scheduling_preflight
from airflow_kit_platform.settings import Settings


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

    def custom_objects(self, api_version: str, namespace: str, plural: str) -> list[dict]:
        group, version = api_version.split("/")
        return self.custom.list_namespaced_custom_object(group, version, namespace, plural).get("items", [])

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
    """Raise PreflightError with everything the backend finds missing (nothing to check for the
    backends the kit installs itself)."""
    problems = scheduling_preflight(settings)
    if problems is None:
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
