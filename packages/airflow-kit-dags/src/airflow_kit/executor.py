"""``on_kubernetes``: run one task in its own pod on the KubernetesExecutor, as a team.

    from airflow_kit import on_kubernetes

    PythonOperator(task_id="crunch", python_callable=crunch,
                   **on_kubernetes("etl", cpu="2", memory="8Gi", local_disk="100Gi"))

How Airflow builds the pod (apache-airflow-providers-cncf-kubernetes, pod_generator.py):
``PodGenerator.construct_pod`` reduces ``[template pod, executor's dynamic pod, pod_override]`` with
``reconcile_pods``: containers merge by position, scalar fields of the later pod win, labels and
annotations are dict-merged, and LISTS ARE APPENDED (``extend_object_field`` for ``volumes``,
``volume_mounts``, ``env``...); ``resources`` is a scalar field there, so it is replaced whole.

Consequences that shape this helper:

* the override always carries the full ``resources`` block (requests and limits);
* the override always carries the team image: the executor's dynamic pod sets the container image
  to ``[kubernetes_executor] worker_container_repository:tag`` whenever those are configured (the
  official chart sets them), and that would beat the image of the team's template;
* a sized local disk cannot be expressed as "local-disk template + override of the volume": the
  override's ``local-disk`` volume would be appended to the template's, giving two volumes of the
  same name, which the API server rejects. So ``local_disk="100Gi"`` uses the team's plain template
  and the override ADDS the one ``local-disk`` generic ephemeral volume (storage class and mount path
  from teams.json, size from the caller) and its mount. ``local_disk=True`` uses the
  ``<team>-local-disk.yaml`` template as rendered (its default size) with no volume in the override.
"""

from __future__ import annotations

from typing import Any

from airflow_kit.catalog import (
    AirflowKitError,
    Catalog,
    CatalogError,
    Team,
    load_catalog,
    parse_quantity,
    require_local_disk,
    resolve_local_disk_size,
    resolve_resources,
)
from airflow_kit.names import KUBERNETES_EXECUTOR, LOCAL_DISK_VOLUME, TASK_CONTAINER, TEAM_LABEL


def local_disk_volume(team: Team, size: str):
    """The ``local-disk`` generic ephemeral volume and its mount, as kubernetes client models."""
    from kubernetes.client import models as k8s

    assert team.local_disk is not None
    volume = k8s.V1Volume(
        name=LOCAL_DISK_VOLUME,
        ephemeral=k8s.V1EphemeralVolumeSource(
            volume_claim_template=k8s.V1PersistentVolumeClaimTemplate(
                metadata=k8s.V1ObjectMeta(labels={TEAM_LABEL: team.name}),
                spec=k8s.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    storage_class_name=team.local_disk.storage_class,
                    resources=k8s.V1VolumeResourceRequirements(requests={"storage": size}),
                ),
            )
        ),
    )
    mount = k8s.V1VolumeMount(name=LOCAL_DISK_VOLUME, mount_path=team.local_disk.mount_path)
    return volume, mount


def build_pod_override(
    team: Team,
    *,
    resources: dict[str, dict[str, str]],
    image: str | None = None,
    local_disk_size: str | None = None,
):
    """The V1Pod to pass as ``executor_config["pod_override"]``.

    It repeats the team's identity (image, schedulerName, priorityClassName, labels, annotations) on
    top of the template: harmless when the template has them (same values), and it keeps the pod in
    the team's queue/quota when the template is not the one used (e.g. ``airflow kubernetes
    generate-dag-yaml`` renders with the global template only).
    """
    from kubernetes.client import models as k8s

    volumes = None
    mounts = None
    if local_disk_size:
        volume, mount = local_disk_volume(team, local_disk_size)
        volumes, mounts = [volume], [mount]
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            # KubernetesExecutor puts the pod in its own namespace unless the override names one.
            namespace=team.namespace,
            labels=dict(team.labels) or None,
            annotations=dict(team.annotations) or None,
        ),
        spec=k8s.V1PodSpec(
            scheduler_name=team.scheduler_name,
            priority_class_name=team.priority_class_name,
            containers=[
                k8s.V1Container(
                    name=TASK_CONTAINER,
                    image=image or team.image,
                    resources=k8s.V1ResourceRequirements(
                        requests=resources.get("requests") or None,
                        limits=resources.get("limits") or None,
                    ),
                    volume_mounts=mounts,
                )
            ],
            volumes=volumes,
        ),
    )


def on_kubernetes(
    team: str,
    cpu: Any = None,
    memory: Any = None,
    local_disk: Any = None,
    cpu_limit: Any = None,
    memory_limit: Any = None,
    image: str | None = None,
    *,
    pool: bool | str = True,
    retries: int | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Operator kwargs that run the task on the KubernetesExecutor as ``team``.

    Returns ``{"executor": "KubernetesExecutor", "executor_config": {"pod_template_file": ...,
    "pod_override": V1Pod}, "pool": <team pool>, "pre_execute": <catalog check>}``; splat it into any
    operator (or ``default_args``). ``pre_execute`` is the catalog's ``require``: a no-op where
    teams.json is mounted; where it is not (a laptop, a DAG CI) the DAG file still imports, quantities
    are still validated, and the task fails when it runs with one ``CatalogError`` naming the file.

    :param team: a team of teams.json (unknown names raise ``UnknownTeamError`` listing the teams)
    :param cpu, memory: requests; default to the team's ``default_resources``; see
        ``catalog.resolve_resources`` for how limits follow
    :param cpu_limit, memory_limit: explicit limits
    :param local_disk: ``None``/``False``: no local disk; a size (``"100Gi"``): one ``local-disk``
        generic ephemeral volume of that size at the team's mount path (must not exceed the team's
        ``max_size``); ``True``: the ``<team>-local-disk.yaml`` template with its rendered size.
    :param image: another image than the team's fused image (same container ``base``)
    :param pool: ``True`` (default) uses the team's pool from teams.json (a pool must exist in
        Airflow, else the task is never scheduled); ``False`` leaves the pool out; a string names one.
    :param retries: the task's retries; ``None`` (default) takes the team's ``task_retries`` from
        teams.json, which the kit sets when the team's pods can be preempted (a preempted or evicted
        pod fails its task and uses a retry). A value here, or the team's, wins over ``default_args``.
    """
    catalog = catalog or load_catalog()
    t = catalog.team(team)
    resources = resolve_resources(t, cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit)

    template = t.pod_template
    disk_size = None
    if catalog.missing is not None:
        # No catalog, no disk to attach (class, mount path, max size): only the size is checked.
        if local_disk not in (None, False, True):
            parse_quantity(local_disk, what="local_disk", team=team, kind="storage")
    elif local_disk is True:
        require_local_disk(t, catalog)
        if not t.local_disk_pod_template:
            raise CatalogError(f"{catalog.path}: team {team!r} has local_disk but no local_disk_pod_template")
        template = t.local_disk_pod_template
    elif local_disk not in (None, False):
        disk_size = resolve_local_disk_size(t, catalog, local_disk)

    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise AirflowKitError(f"image for team {team!r}: expected a non-empty image reference, got {image!r}")

    out: dict[str, Any] = {
        "executor": KUBERNETES_EXECUTOR,
        "executor_config": {
            "pod_template_file": template,
            "pod_override": build_pod_override(t, resources=resources, image=image, local_disk_size=disk_size),
        },
        "pre_execute": catalog.require,
    }
    if pool is True:
        if t.pool:
            out["pool"] = t.pool
    elif pool:
        out["pool"] = pool
    if retries is None:
        retries = t.task_retries
    if retries is not None:
        out["retries"] = retries
    return out
