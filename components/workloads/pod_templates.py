"""Per-team Pod templates for the KubernetesExecutor, and the team catalog beside them.

The design and why: docs/pod-templates.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import yaml

from airflow_kit import names
from airflow_kit.catalog import as_batch_resources
from airflow_kit_platform.airflow.chart_names import (
    CHART,
    KUBERNETES_DEFAULT_CONNECTION_ENV,
    LOGS_VOLUME_CLAIM,
    ChartNames,
    SecretNames,
)
from airflow_kit_platform.model.pod_security import (
    TASK_SERVICE_ACCOUNT,
    task_container_security_context,
    task_pod_security_context,
)
from airflow_kit_platform.model.teams import Team
from airflow_kit_platform.scheduling.backend import PodMarks
from airflow_kit_platform.settings import Settings

# The names the DAG helper reads are shared with it (airflow_kit.names, packages/airflow-kit-dags).
POD_TEMPLATES_DIR = names.POD_TEMPLATES_DIR  # not the chart's pod_templates/: it mounts its
# pod_template_file.yaml there by subPath, which cannot be mounted inside a ConfigMap volume
CONFIGMAP_NAME = names.POD_TEMPLATES_CONFIGMAP
POD_TEMPLATES_VOLUME = names.POD_TEMPLATES_VOLUME
POD_TEMPLATES_DIR_ENV = names.POD_TEMPLATES_DIR_ENV  # read by airflow_kit.catalog
CATALOG_FILE = names.CATALOG_FILE
CHART_POD_TEMPLATE_FILE = "pod_template_file.yaml"  # the chart's [kubernetes_executor] pod_template_file
TEAM_LABEL = names.TEAM_LABEL
TEAM_ENV = names.TEAM_ENV
LOCAL_DISK_VOLUME = names.LOCAL_DISK_VOLUME
TASK_CONTAINER = names.TASK_CONTAINER
DEFAULT_LOCAL_DISK_SIZE = "10Gi"
PLACEHOLDER_POD_NAME = "placeholder-name"  # the executor replaces it; the chart uses the same

AIRFLOW_HOME = "/opt/airflow"
TERMINATION_GRACE_PERIOD_SECONDS = 600  # chart default workers.terminationGracePeriodSeconds
# The chart 1.19.0 defaults for git-sync (images.gitSync, dags.gitSync.uid).
GIT_SYNC_IMAGE = "registry.k8s.io/git-sync/git-sync:v4.4.2"
GIT_SYNC_UID = 65533
GIT_SYNC_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "500m", "memory": "256Mi"}}
CONFIGMAP_MAX_BYTES = 1024 * 1024  # the API server refuses larger ConfigMaps


@dataclass(frozen=True)
class TaskSecrets:
    """Which of the kit's Secrets (components/airflow/chart_names.SecretNames) a task pod reads."""

    expose_api_secrets_to_tasks: bool = False


def logs_volume(settings: Settings) -> dict[str, Any]:
    """The stack's logs volume (`airflow.logsVolume`), else an emptyDir as the chart's template."""
    if settings.airflow.logs_volume is not None:
        return {"name": "logs", "persistentVolumeClaim": {"claimName": LOGS_VOLUME_CLAIM}}
    return {"name": "logs", "emptyDir": {}}


def fused_image_tag(business_image: str, airflow_version: str) -> str:
    """`<business repo>:<business tag>-airflow-<version>`: the fused worker image of a team that has a
    `businessImage` and no `image` (worker_image.py renders its build context under this tag)."""
    reference = business_image.split("@", 1)[0]
    repository, tag = reference, "latest"
    if ":" in reference.rsplit("/", 1)[-1]:
        repository, tag = reference.rsplit(":", 1)
    return f"{repository}:{tag}-airflow-{airflow_version}"


def team_image(settings: Settings, team: Team) -> str:
    """The image of the team's task pods: its `image`; else, with a `businessImage`, its fused worker
    image tagged from the business image and the stack's Airflow version (so `airflow.version` moves
    it with the chart and the Airflow image); else the stack's Airflow image."""
    if team.image:
        return team.image
    if team.business_image:
        return fused_image_tag(team.business_image, settings.airflow.version)
    return settings.airflow.image


def template_file_name(team: str, local_disk: bool = False) -> str:
    return names.pod_template_file(team, local_disk)


def template_path(team: str, local_disk: bool = False) -> str:
    return f"{POD_TEMPLATES_DIR}/{template_file_name(team, local_disk)}"


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _git_sync_init_container(settings: Settings) -> dict[str, Any]:
    git_sync = settings.airflow.git_sync
    assert git_sync is not None
    env: list[dict[str, Any]] = [
        {"name": "GITSYNC_REPO", "value": git_sync.repo},
        {"name": "GITSYNC_REF", "value": git_sync.branch},
        {"name": "GITSYNC_DEPTH", "value": "1"},
        {"name": "GITSYNC_ROOT", "value": "/git"},
        {"name": "GITSYNC_LINK", "value": "repo"},
        {"name": "GITSYNC_ADD_USER", "value": "true"},
        {"name": "GITSYNC_ONE_TIME", "value": "true"},
    ]
    if git_sync.credentials_secret:
        # The chart's credentialsSecret holds GITSYNC_* (git-sync v4) and/or GIT_SYNC_* (v3) keys;
        # optional refs accept either layout.
        for variable in ("GITSYNC_USERNAME", "GITSYNC_PASSWORD", "GIT_SYNC_USERNAME", "GIT_SYNC_PASSWORD"):
            env.append({"name": variable, "valueFrom": {"secretKeyRef": {
                "name": git_sync.credentials_secret, "key": variable, "optional": True}}})
    return {
        "name": "git-sync-init",
        "image": GIT_SYNC_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {"runAsUser": GIT_SYNC_UID, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "env": env,
        "resources": GIT_SYNC_RESOURCES,
        "volumeMounts": [{"name": "dags", "mountPath": "/git"}],
    }


def _local_disk_volume(settings: Settings, team: Team, size: str) -> dict[str, Any]:
    assert settings.local_disk is not None
    return {
        "name": LOCAL_DISK_VOLUME,
        "ephemeral": {"volumeClaimTemplate": {
            "metadata": {"labels": {TEAM_LABEL: team.name}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": settings.local_disk.storage_class,
                "resources": {"requests": {"storage": size}},
            },
        }},
    }


def build_pod_template(settings: Settings, team: Team, marks: PodMarks, local_disk: bool,
                       names: ChartNames = CHART, *, secrets: TaskSecrets = TaskSecrets(),
                       local_disk_size: str = DEFAULT_LOCAL_DISK_SIZE,
                       in_stack_namespace: bool = False) -> dict[str, Any]:
    """The Pod template (a plain dict) of one leaf team, with or without the local disk.

    `in_stack_namespace`: for pods KubernetesExecutor starts in the stack's namespace whatever
    `teamNamespaces` says (the chart's default template, for tasks that do not name a team)."""
    if settings.teams.is_parent(team.name):
        raise ValueError(f"team '{team.name}' has child teams: only leaf teams run tasks and get pod templates")
    if local_disk and settings.local_disk is None:
        raise ValueError(f"stack '{settings.stack}' has no localDisk: no local-disk template for team '{team.name}'")

    git_sync = settings.airflow.dag_source == "gitSync" and settings.airflow.git_sync is not None
    in_team_namespace = bool(settings.team_namespaces) and not in_stack_namespace
    labels = {"tier": "airflow", "component": "worker", "release": names.release}
    labels.update(marks.labels)
    labels[TEAM_LABEL] = team.name

    env: list[dict[str, Any]] = [{"name": "AIRFLOW__CORE__EXECUTOR", "value": settings.airflow.executor}]
    if team.metadata_access:
        env.append(_secret_env("AIRFLOW__CORE__FERNET_KEY", SecretNames.fernet_key, "fernet-key"))
        env.append(_secret_env("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", SecretNames.metadata, "connection"))
    if secrets.expose_api_secrets_to_tasks:
        env.append(_secret_env("AIRFLOW__API__SECRET_KEY", SecretNames.api_secret_key, "api-secret-key"))
        env.append(_secret_env("AIRFLOW__API_AUTH__JWT_SECRET", SecretNames.jwt_secret, "jwt-secret"))
    env += [
        {"name": POD_TEMPLATES_DIR_ENV, "value": POD_TEMPLATES_DIR},
        dict(KUBERNETES_DEFAULT_CONNECTION_ENV),
        {"name": TEAM_ENV, "value": team.name},
    ]

    mounts: list[dict[str, Any]] = [
        {"name": "logs", "mountPath": f"{AIRFLOW_HOME}/logs"},
        {"name": "config", "mountPath": f"{AIRFLOW_HOME}/airflow.cfg", "subPath": "airflow.cfg", "readOnly": True},
        {"name": POD_TEMPLATES_VOLUME, "mountPath": POD_TEMPLATES_DIR, "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        logs_volume(settings),
        {"name": "config", "configMap": {"name": names.config_configmap}},
        {"name": POD_TEMPLATES_VOLUME, "configMap": {"name": CONFIGMAP_NAME}},
    ]
    if git_sync:
        mounts.append({"name": "dags", "mountPath": f"{AIRFLOW_HOME}/dags", "readOnly": True})
        volumes.append({"name": "dags", "emptyDir": {}})
    if local_disk:
        assert settings.local_disk is not None
        mounts.append({"name": LOCAL_DISK_VOLUME, "mountPath": settings.local_disk.mount_path})
        volumes.append(_local_disk_volume(settings, team, local_disk_size))

    base = {
        "name": TASK_CONTAINER,
        "image": team_image(settings, team),
        "imagePullPolicy": settings.images.pull_policy or "IfNotPresent",
        "env": env,
        "resources": _resources(team.task_resources.as_k8s(), marks, team.name),
        "securityContext": task_container_security_context(),
        "volumeMounts": mounts,
    }

    metadata: dict[str, Any] = {"name": PLACEHOLDER_POD_NAME, "labels": labels}
    if marks.namespace and not in_stack_namespace:
        # Documentation for readers of the template: KubernetesExecutor puts the pod in its own
        # namespace over the template's; the DAG helper's pod_override carries the team's.
        metadata["namespace"] = marks.namespace
    if marks.annotations:
        metadata["annotations"] = dict(marks.annotations)

    spec: dict[str, Any] = {"schedulerName": marks.scheduler_name}
    if marks.priority_class_name:
        spec["priorityClassName"] = marks.priority_class_name
    if git_sync:
        init = _git_sync_init_container(settings)
        init["resources"] = _resources(init["resources"], marks, team.name)
        spec["initContainers"] = [init]
    spec["containers"] = [base]
    spec.update({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_PERIOD_SECONDS,
        # No Kubernetes API access in the stack's namespace; in a team namespace the worker
        # account launches pods and Jobs there only (pod_security, team_namespaces).
        "serviceAccountName": names.worker_service_account if in_team_namespace else TASK_SERVICE_ACCOUNT,
        "automountServiceAccountToken": in_team_namespace,
        "securityContext": task_pod_security_context(),
    })
    if team.node_selector:
        spec["nodeSelector"] = dict(team.node_selector)
    if team.tolerations:
        spec["tolerations"] = [dict(item) for item in team.tolerations]
    spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _resources(resources: Mapping[str, Mapping[str, str]], marks: PodMarks, team: str) -> dict[str, dict[str, str]]:
    """A container's requests/limits as the team's pods must ask: batch resources for ACK's BE
    pods (every container: a BE pod never mixes batch and regular resources), converted by the
    DAG helper's own function, so a template and a task's override agree."""
    if marks.batch_resources:
        return as_batch_resources(resources, team=team)
    return {part: dict(values) for part, values in resources.items()}


def _marks_for_leaves(settings: Settings, pod_marks: Mapping[str, PodMarks]) -> dict[str, PodMarks]:
    leaves = [team.name for team in settings.teams.leaves()]
    missing = [name for name in leaves if name not in pod_marks]
    if missing:
        raise ValueError(f"stack '{settings.stack}': the scheduling plan has no pod marks for team(s) "
                         f"{', '.join(missing)} (pod marks exist for: {', '.join(sorted(pod_marks)) or 'none'})")
    return {name: pod_marks[name] for name in leaves}


def build_catalog(settings: Settings, pod_marks: Mapping[str, PodMarks]) -> dict[str, Any]:
    """teams.json: what the DAG helper (airflow_kit) needs to build a task's pod override."""
    teams: dict[str, Any] = {}
    for name, marks in _marks_for_leaves(settings, pod_marks).items():
        team = settings.teams.get(name)
        local_disk = settings.local_disk
        teams[name] = {
            "image": team_image(settings, team),
            "pod_template": template_path(name),
            "local_disk_pod_template": template_path(name, local_disk=True) if local_disk else None,
            "local_disk": ({"mount_path": local_disk.mount_path, "storage_class": local_disk.storage_class,
                            "max_size": local_disk.max_size} if local_disk else None),
            "default_resources": team.task_resources.as_k8s(),
            "scheduler_name": marks.scheduler_name,
            "labels": {**dict(marks.labels), TEAM_LABEL: name},
            "annotations": dict(marks.annotations),
            "priority_class_name": marks.priority_class_name,
            "namespace": marks.namespace or settings.namespace,
            "batch_resources": marks.batch_resources,
            "pool": team.pool,
            # Default retries of the team's tasks (preempted pods fail their task); null: none.
            "task_retries": settings.task_retries(team),
        }
    return {
        "stack": settings.stack,
        "scheduler": settings.scheduler.backend,
        "queue": settings.queue.backend,
        "namespace": settings.namespace,
        "default_team": settings.default_team,
        "teams": teams,
    }


def to_yaml(obj: Mapping[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=1000)


def render_pod_templates(settings: Settings, pod_marks: Mapping[str, PodMarks], names: ChartNames = CHART,
                         *, secrets: TaskSecrets = TaskSecrets()) -> dict[str, str]:
    """File name -> text of every file in the ConfigMap (templates as YAML, teams.json as JSON)."""
    files: dict[str, str] = {}
    for name, marks in _marks_for_leaves(settings, pod_marks).items():
        team = settings.teams.get(name)
        files[template_file_name(name)] = to_yaml(
            build_pod_template(settings, team, marks, False, names, secrets=secrets))
        if settings.local_disk is not None:
            files[template_file_name(name, local_disk=True)] = to_yaml(
                build_pod_template(settings, team, marks, True, names, secrets=secrets))
    files[CATALOG_FILE] = json.dumps(build_catalog(settings, pod_marks), indent=2, sort_keys=True) + "\n"
    files[CHART_POD_TEMPLATE_FILE] = default_pod_template_text(settings, pod_marks, names, secrets=secrets)
    return files


def pod_templates_configmap(settings: Settings, files: Mapping[str, str]) -> dict[str, Any]:
    """The ConfigMap that carries the rendered files, in the stack's namespace."""
    size = sum(len(key.encode()) + len(value.encode()) for key, value in files.items())
    if size > CONFIGMAP_MAX_BYTES - 16 * 1024:  # leave room for metadata
        raise ValueError(f"stack '{settings.stack}': pod templates take {size} bytes, more than a ConfigMap "
                         f"holds (1 MiB); fewer teams or no local-disk variants would fit")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": settings.namespace,
            "labels": {"app.kubernetes.io/name": CONFIGMAP_NAME, "app.kubernetes.io/part-of": "airflow-kit",
                       "app.kubernetes.io/component": "pod-templates"},
            "annotations": {"airflow-kit/stack": settings.stack},
        },
        "data": {key: files[key] for key in sorted(files)},
    }


def default_pod_template_text(settings: Settings, pod_marks: Mapping[str, PodMarks], names: ChartNames = CHART,
                              *, secrets: TaskSecrets = TaskSecrets()) -> str:
    """The default team's template as YAML, for the chart's `podTemplate` value.

    The chart renders `podTemplate` through Helm's `tpl`, so any `{{` would be executed as a Go
    template: refuse it rather than let a label or annotation value be templated.
    """
    marks = _marks_for_leaves(settings, pod_marks)[settings.default_team]
    team = settings.teams.get(settings.default_team)
    text = to_yaml(build_pod_template(settings, team, marks, False, names, secrets=secrets, in_stack_namespace=True))
    if "{{" in text:
        line = next(line for line in text.splitlines() if "{{" in line)
        raise ValueError(f"stack '{settings.stack}': the default pod template contains '{{{{' ({line.strip()}), "
                         f"which the chart's tpl would execute; remove it from the team's labels/annotations/image")
    return text
