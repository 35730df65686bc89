"""The `airflow` block: executors, image, chart, concurrency, DAG source, auth manager, logs volume."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import Section, did_you_mean
from airflow_kit_platform.quantities import parse_quantity
from airflow_kit_platform.settings.common import STORAGE_CLASS_NAME

KNOWN_EXECUTORS = ("CeleryExecutor", "KubernetesExecutor", "LocalExecutor")

# Airflow's own `[core] parallelism` default: the floor of the kit's sizing.
AIRFLOW_DEFAULT_PARALLELISM = 32
DAG_SOURCES = ("gitSync", "image")

# `fab`: the chart's default (FabAuthManager; its user job creates the web admin `admin`; needs the
# FAB provider, which the official image has). `simple`: Airflow's built-in SimpleAuthManager, one
# `admin` user, no user job, no FAB. Either way the password is `adminPassword` (a Pulumi secret,
# generated when not given) and reaches Airflow only through a Kubernetes Secret.
AUTH_MANAGERS = ("fab", "simple")

GIT_SYNC_PERIOD = re.compile(r"^[0-9]+(s|m|h)$")


@dataclass(frozen=True)
class Concurrency:
    # Unset in the stack: sized from the team tree (see sized_concurrency).
    parallelism: int = AIRFLOW_DEFAULT_PARALLELISM
    max_active_tasks_per_dag: int = 16
    max_active_runs_per_dag: int = 16
    worker_concurrency: int = 16
    worker_pods_creation_batch_size: int = 16  # Airflow's default of 1 is far too slow
    task_publish_max_retries: int = 0  # >0 retries pods refused at admission (ResourceQuota)


@dataclass(frozen=True)
class GitSync:
    repo: str
    branch: str = "main"
    sub_path: str = "dags"
    period: str = "60s"
    credentials_secret: Optional[str] = None


ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")


# PersistentVolume sources that several claims in different namespaces can share.
SHARED_VOLUME_SOURCES = ("nfs", "csi", "hostPath")


@dataclass(frozen=True)
class LogsVolume:
    """One volume for every component's and task's logs, so a task's log outlives its pod
    (the API server reads it from there). ReadWriteMany across nodes; ReadWriteOnce is enough
    on a single node."""
    storage_class: Optional[str]
    size: str = "10Gi"
    access_mode: str = "ReadWriteMany"
    # A volume every namespace's claim binds to (a PersistentVolume source: `nfs`, `csi`,
    # `hostPath`): one PersistentVolume per namespace, all on the same storage, so the API server
    # reads what task pods in team namespaces wrote. None: one claim from `storage_class`.
    source: Optional[Mapping[str, Any]] = None


@dataclass(frozen=True)
class AirflowSettings:
    executors: tuple[str, ...] = ("CeleryExecutor", "KubernetesExecutor")
    install: bool = True
    chart_path: Optional[str] = None  # local chart (air-gapped); None: the pinned repo chart
    version: str = versions.AIRFLOW_VERSION  # one of versions.TESTED_AIRFLOW_RELEASES
    image_repository: str = "apache/airflow"
    image_tag: str = versions.AIRFLOW_VERSION  # unset in the stack: `version`
    concurrency: Concurrency = field(default_factory=Concurrency)
    dag_source: str = "image"
    git_sync: Optional[GitSync] = None
    api_server_replicas: int = 1
    # High availability: Airflow 3 runs several schedulers and triggerers side by side (row locks
    # in the metadata database share the work); a PodDisruptionBudget per component keeps one up
    # through a node drain. None: budgets on when any of them has 2 or more replicas.
    scheduler_replicas: int = 1
    triggerer_replicas: int = 1
    disruption_budgets: Optional[bool] = None
    celery_worker_replicas: int = 1  # used only without KEDA
    # Celery worker requests; memory None: sized from worker_concurrency (see celery_worker_resources()).
    celery_worker_cpu: str = "1"
    celery_worker_memory: Optional[str] = None
    job_tasks: bool = False  # RBAC for KubernetesJobOperator (allowJobLaunching)
    statsd: bool = True  # the chart's StatsD exporter (metrics); off where nothing scrapes it
    auth_manager: str = "fab"  # AUTH_MANAGERS
    logs_volume: Optional[LogsVolume] = None  # None: logs live and die with each pod
    # Passthrough (components/passthrough.py): chart values and airflow.cfg options the
    # kit does not set, merged under its own.
    chart_values: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def chart_version(self) -> str:
        """The Airflow chart release that installs `version`."""
        return versions.TESTED_AIRFLOW_RELEASES[self.version]

    @property
    def image(self) -> str:
        """The Airflow image every component (and a team without its own image) runs."""
        return f"{self.image_repository}:{self.image_tag}"

    def celery_worker_resources(self) -> dict[str, dict[str, str]]:
        """Requests = limits for a Celery worker pod.

        Unset memory is sized from the measured ~272 MiB of one Airflow task process
        (tests/dags measures it) times worker_concurrency, plus the worker's own ~512 MiB, so
        the scheduler sees what the worker really uses instead of the chart's empty default.
        """
        memory = self.celery_worker_memory or f"{300 * self.concurrency.worker_concurrency + 512}Mi"
        return {"requests": {"cpu": self.celery_worker_cpu, "memory": memory}, "limits": {"memory": memory}}

    @property
    def highly_available(self) -> bool:
        return max(self.api_server_replicas, self.scheduler_replicas, self.triggerer_replicas) > 1

    @property
    def pod_disruption_budgets(self) -> bool:
        return self.highly_available if self.disruption_budgets is None else self.disruption_budgets

    @property
    def executor(self) -> str:
        """The chart's `executor` value: a comma list, no spaces, default first."""
        return ",".join(self.executors)


def read_airflow(section: Section) -> AirflowSettings:
    executors = section.raw("executors", list(AirflowSettings.executors))
    if isinstance(executors, str):
        executors = [part.strip() for part in executors.split(",")]
    if not isinstance(executors, list) or not executors:
        raise section.error("executors", executors, f"must be a non-empty list of {', '.join(KNOWN_EXECUTORS)}")
    for name in executors:
        if name == "CeleryKubernetesExecutor":
            raise section.error("executors", executors,
                                "CeleryKubernetesExecutor does not exist in Airflow 3; "
                                "list [CeleryExecutor, KubernetesExecutor] instead")
        if name not in KNOWN_EXECUTORS:
            hint = did_you_mean(name, KNOWN_EXECUTORS) if isinstance(name, str) else ""
            raise section.error("executors", executors,
                                f"unknown executor {name!r}{hint}; allowed: {', '.join(KNOWN_EXECUTORS)}")
    if len(set(executors)) != len(executors):
        raise section.error("executors", executors, "must not list an executor twice")
    chart = section.section("chart")
    install = chart.boolean("install", AirflowSettings.install)
    chart_path = chart.string("path", None)
    chart.finish()
    version = section.choice("version", tuple(versions.TESTED_AIRFLOW_RELEASES), AirflowSettings.version)
    image = section.section("image")
    image_repository = image.string("repository", AirflowSettings.image_repository)
    image_tag = image.string("tag", version)
    image.finish()
    concurrency = read_concurrency(section.section("concurrency"))
    worker = section.section("celeryWorkerResources")
    celery_worker_cpu = worker.quantity("cpu", AirflowSettings.celery_worker_cpu)
    celery_worker_memory = worker.quantity("memory", None)
    worker.finish()
    dag_source = section.choice("dagSource", DAG_SOURCES, AirflowSettings.dag_source)
    git_sync = None
    if dag_source == "gitSync":
        block = section.section("gitSync")
        git_sync = GitSync(
            repo=block.string("repo"),
            branch=block.string("branch", GitSync.branch),
            sub_path=block.string("subPath", GitSync.sub_path),
            period=block.string("period", GitSync.period, pattern=GIT_SYNC_PERIOD, pattern_help="must be a duration like 30s, 5m"),
            credentials_secret=block.string("credentialsSecret", None),
        )
        block.finish()
    else:
        section.accept("gitSync")
    settings = AirflowSettings(
        executors=tuple(executors), install=install, chart_path=chart_path, version=version,
        image_repository=image_repository, image_tag=image_tag, concurrency=concurrency,
        dag_source=dag_source, git_sync=git_sync,
        api_server_replicas=section.integer("apiServerReplicas", AirflowSettings.api_server_replicas, minimum=1),
        scheduler_replicas=section.integer("schedulerReplicas", AirflowSettings.scheduler_replicas, minimum=1),
        triggerer_replicas=section.integer("triggererReplicas", AirflowSettings.triggerer_replicas, minimum=1),
        disruption_budgets=section.boolean("podDisruptionBudgets", None),
        celery_worker_replicas=section.integer("celeryWorkerReplicas", AirflowSettings.celery_worker_replicas, minimum=0),
        celery_worker_cpu=celery_worker_cpu,
        celery_worker_memory=celery_worker_memory,
        job_tasks=section.boolean("jobTasks", AirflowSettings.job_tasks),
        statsd=section.boolean("statsd", AirflowSettings.statsd),
        auth_manager=section.choice("authManager", AUTH_MANAGERS, AirflowSettings.auth_manager),
        logs_volume=read_logs_volume(section.section("logsVolume")) if section.has("logsVolume") else None,
        chart_values=section.mapping("chartValues"),
        config=section.config_sections("config"),
    )
    section.finish()
    return settings


def read_concurrency(section: Section) -> Concurrency:
    concurrency = Concurrency(
        parallelism=section.integer("parallelism", 0, minimum=1),  # 0: not given, sized later
        max_active_tasks_per_dag=section.integer("maxActiveTasksPerDag", Concurrency.max_active_tasks_per_dag, minimum=1),
        max_active_runs_per_dag=section.integer("maxActiveRunsPerDag", Concurrency.max_active_runs_per_dag, minimum=1),
        worker_concurrency=section.integer("workerConcurrency", Concurrency.worker_concurrency, minimum=1),
        worker_pods_creation_batch_size=section.integer("workerPodsCreationBatchSize", Concurrency.worker_pods_creation_batch_size, minimum=1),
        task_publish_max_retries=section.integer("taskPublishMaxRetries", Concurrency.task_publish_max_retries, minimum=-1),
    )
    if concurrency.parallelism and concurrency.max_active_tasks_per_dag > concurrency.parallelism:
        raise section.error("maxActiveTasksPerDag", concurrency.max_active_tasks_per_dag,
                            f"must not exceed parallelism ({concurrency.parallelism})")
    section.finish()
    return concurrency


def read_logs_volume(section: Section) -> LogsVolume:
    volume = LogsVolume(
        storage_class=section.string("storageClass", None, pattern=STORAGE_CLASS_NAME,
                                     pattern_help="must be a StorageClass name"),
        size=section.quantity("size", LogsVolume.size, resource="storage"),
        access_mode=section.choice("accessMode", ACCESS_MODES, LogsVolume.access_mode),
        source=section.mapping("source") or None)
    if parse_quantity(volume.size) <= 0:
        raise section.error("size", volume.size, "must be greater than zero")
    if volume.source is not None:
        kinds = sorted(volume.source)
        if len(kinds) != 1 or kinds[0] not in SHARED_VOLUME_SOURCES or not isinstance(volume.source[kinds[0]], Mapping):
            raise section.error("source", dict(volume.source), "must be one PersistentVolume source, one of "
                                f"{', '.join(SHARED_VOLUME_SOURCES)} (e.g. nfs: {{server: ..., path: ...}})")
        if volume.storage_class is not None:
            raise section.error("storageClass", volume.storage_class,
                                "cannot be combined with source: the kit binds its claims to that volume itself")
    section.finish()
    return volume
