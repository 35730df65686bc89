"""Turn plain manifests (dicts built by the pure builders) into Pulumi resources.

Builders return Kubernetes objects as plain dicts so they can be validated against the
real schemas without Pulumi; this is the one place that knows which Pulumi class creates
each kind. Built-in kinds get their typed resource, custom resources a CustomResource.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

_BUILTIN_MODULES = {
    "v1": k8s.core.v1,
    "batch/v1": k8s.batch.v1,
    "scheduling.k8s.io/v1": k8s.scheduling.v1,
    "storage.k8s.io/v1": k8s.storage.v1,
    "rbac.authorization.k8s.io/v1": k8s.rbac.v1,
    "networking.k8s.io/v1": k8s.networking.v1,
    "admissionregistration.k8s.io/v1": k8s.admissionregistration.v1,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_name(manifest: Mapping[str, Any]) -> str:
    """A stable Pulumi name: kind plus namespace/name, unique within a stack."""
    metadata = manifest["metadata"]
    namespace = metadata.get("namespace")
    qualified = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
    return f"{manifest['kind'].lower()}:{qualified}"


def create_object(manifest: Mapping[str, Any], opts: Optional[pulumi.ResourceOptions] = None,
                  name: Optional[str] = None) -> pulumi.CustomResource:
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    name = name or resource_name(manifest)
    module = _BUILTIN_MODULES.get(api_version)
    if module is None:
        return k8s.apiextensions.CustomResource(
            name, api_version=api_version, kind=kind, metadata=manifest["metadata"],
            spec=manifest.get("spec"), opts=opts)
    fields = {_snake(key): value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
    return getattr(module, kind)(name, opts=opts, **fields)


def create_chart(spec, opts: Optional[pulumi.ResourceOptions] = None) -> k8s.helm.v4.Chart:
    """A pinned chart from its repository (`ChartSpec` in airflow_kit_platform.scheduling.backend).

    helm.v4.Chart renders client-side (every object shows in `pulumi preview`) and, unlike
    `helm install --create-namespace`, needs the namespace to exist: it is created first.
    """
    opts = opts or pulumi.ResourceOptions()
    if spec.create_namespace:
        namespace = k8s.core.v1.Namespace(
            f"namespace:{spec.namespace}", metadata={"name": spec.namespace},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[])))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    return k8s.helm.v4.Chart(
        spec.release,
        chart=spec.chart,
        name=spec.release,
        namespace=spec.namespace,
        version=spec.version,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=spec.repository),
        values=dict(spec.values),
        opts=opts,
    )
