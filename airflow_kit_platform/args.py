"""Typed arguments of `Platform`, for Pulumi programs that import the kit.

Every class mirrors one block of a stack file (`stacks/Pulumi.<stack>.yaml`): a field
`max_active_tasks_per_dag` is the stack key `maxActiveTasksPerDag`. A field left at None takes the
kit's default, which lives in one place (airflow_kit_platform/settings/) and is named in the
field's doc. `PlatformArgs.to_config()` turns the arguments into the stack-file mapping, which the
one validator (`settings.load_settings`) checks: a Python program gets exactly the errors a stack
file gets (one line naming the stack, the key and what is allowed), before any resource exists.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi


def doc(text: str, default: Any = None) -> Any:
    """A field with its documentation (shown by `help()` and `fields_help`)."""
    factory = default if callable(default) else None
    if factory is not None:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


Quantities = Mapping[str, str]  # resource -> Kubernetes quantity, e.g. {"cpu": "4", "memory": "16Gi"}


@dataclass
class TaskResourcesArgs:
    cpu: Optional[str] = doc("cpu request of one task pod (default 500m)")
    memory: Optional[str] = doc("memory request of one task pod (default 1Gi)")
    cpu_limit: Optional[str] = doc("cpu limit (default: the request)")
    memory_limit: Optional[str] = doc("memory limit (default: the request)")


@dataclass
class TeamArgs:
    name: str = doc("DNS label; the team's pool is team-<name>")
    min: Quantities = doc("guaranteed share (cpu, memory, ...)", dict)
    max: Quantities = doc("ceiling it may borrow up to", dict)
    parent: Optional[str] = doc("parent team (a tree of quotas); None: a top-level team")
    weight: Optional[int] = doc("share of spare capacity among siblings (default 1)")
    priority: Optional[str] = doc("prod, mid, batch or free (default mid)")
    overcommit: Optional[bool] = doc("run as best-effort on idle capacity (scheduler.overcommit)")
    image: Optional[str] = doc("the team's fused worker image (default: <businessImage>-airflow-<version> "
                               "with a business_image, else the Airflow image)")
    business_image: Optional[str] = doc("business image the fused worker image is built from")
    task_resources: Optional[TaskResourcesArgs] = doc("default requests and limits of a task pod")
    pool_slots: Optional[int] = doc("Airflow pool slots (default: as many tasks as its quota holds)")
    node_selector: Optional[Mapping[str, str]] = doc("node selector of its task pods")
    tolerations: Optional[Sequence[Mapping[str, Any]]] = doc("tolerations of its task pods")
    task_retries: Optional[int] = doc("default task retries (default: 2 when its pods can be preempted)")
    metadata_access: Optional[bool] = doc("give its pods the metadata DB connection (default false)")


@dataclass
class ConcurrencyArgs:
    parallelism: Optional[int] = doc("[core] parallelism (default: sized from the team pools and Celery)")
    max_active_tasks_per_dag: Optional[int] = doc("[core] max_active_tasks_per_dag (default 16)")
    max_active_runs_per_dag: Optional[int] = doc("[core] max_active_runs_per_dag (default 16)")
    worker_concurrency: Optional[int] = doc("[celery] worker_concurrency (default 16)")
    worker_pods_creation_batch_size: Optional[int] = doc("KubernetesExecutor pods per loop (default 16)")
    task_publish_max_retries: Optional[int] = doc("retries of a pod refused at admission (default 0)")


@dataclass
class AirflowArgs:
    version: Optional[str] = doc("one of versions.TESTED_AIRFLOW_RELEASES (default: the newest); the "
                                 "chart, image tag and worker images follow it")
    executors: Optional[Sequence[str]] = doc("CeleryExecutor, KubernetesExecutor, LocalExecutor; first = "
                                             "default (default [CeleryExecutor, KubernetesExecutor])")
    chart: Optional[Mapping[str, Any]] = doc("{install: bool, path: packaged chart, chart folder or folder of "
                                             "packages} (default: the pinned chart from its repository)")
    image: Optional[Mapping[str, str]] = doc("{repository, tag} of the components' image "
                                             "(default apache/airflow:<version>)")
    concurrency: Optional[ConcurrencyArgs] = doc("Airflow's limits")
    dag_source: Optional[str] = doc("image or gitSync (default image)")
    git_sync: Optional[Mapping[str, str]] = doc("{repo, branch, subPath, period, credentialsSecret}")
    api_server_replicas: Optional[int] = doc("(default 1)")
    celery_worker_replicas: Optional[int] = doc("without KEDA (default 1)")
    celery_worker_resources: Optional[Mapping[str, str]] = doc("{cpu, memory} (default: sized from concurrency)")
    job_tasks: Optional[bool] = doc("RBAC for KubernetesJobOperator (default false; on with a job queue)")
    statsd: Optional[bool] = doc("the chart's StatsD exporter (default true)")
    auth_manager: Optional[str] = doc("fab or simple (default fab)")
    logs_volume: Optional[Mapping[str, str]] = doc("{storageClass, size, accessMode}: logs outlive pods")
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of the Airflow chart, merged under the kit's")
    config: Optional[Mapping[str, Mapping[str, Any]]] = doc("extra airflow.cfg options: section -> option -> value")


@dataclass
class DatabaseArgs:
    mode: Optional[str] = doc("bundled (dev only) or external (default bundled)")
    host: Optional[str] = doc("external Postgres host")
    port: Optional[int] = doc("(default 5432)")
    name: Optional[str] = doc("(default airflow)")
    user: Optional[str] = doc("(default airflow)")
    sslmode: Optional[str] = doc("libpq sslmode of an external database (default require)")
    pgbouncer: Optional[bool] = doc("the chart's PgBouncer in front of an external database (default true)")


@dataclass
class KedaArgs:
    enabled: Optional[bool] = doc("scale Celery workers with KEDA, to zero (default false)")
    install: Optional[bool] = doc("install KEDA's chart (default true); false: the cluster has KEDA")
    min_replicas: Optional[int] = doc("(default 0)")
    max_replicas: Optional[int] = doc("(default 10)")
    polling_interval: Optional[int] = doc("seconds (default 5)")
    cooldown_period: Optional[int] = doc("seconds (default 30)")
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of KEDA's chart")


@dataclass
class SchedulerArgs:
    backend: Optional[str] = doc("default, koordinator, volcano or ack (default default)")
    install: Optional[bool] = doc("install the backend's chart (default: true for koordinator and volcano)")
    chart_version: Optional[str] = doc("the backend chart's version (default: the pinned one)")
    image_registry: Optional[str] = doc("registry of the backend's images (required to install Koordinator)")
    load_aware: Optional[Mapping[str, Any]] = doc("load-aware placement thresholds")
    overcommit: Optional[Mapping[str, Any]] = doc("best-effort overcommit of idle capacity")
    deschedule_low_node_load: Optional[bool] = doc("Koordinator's descheduler LowNodeLoad (default false)")
    retain_queues: Optional[bool] = doc("queues and quotas survive destroy (default true)")
    max_queue_wait: Optional[str] = doc("how long a task may wait for its quota, e.g. 6h (default: by backend)")
    reclaim_delay: Optional[str] = doc("Koordinator: time before borrowed capacity is reclaimed (default 120s)")
    scheduler_name: Optional[str] = doc("the scheduler task pods name (default: the backend's)")
    quota_tree: Optional[Mapping[str, Any]] = doc("ack: {owner: kit|admin, root: quantities}")
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of the backend's chart (when installed)")


@dataclass
class QueueArgs:
    backend: Optional[str] = doc("none, koord-queue or ack (default none)")
    install: Optional[bool] = doc("install koord-queue (default true for koord-queue)")
    chart_version: Optional[str] = doc("koord-queue chart version (default: the pinned one)")
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of koord-queue's chart")


@dataclass
class LocalDiskArgs:
    storage_class: str = doc("StorageClass of node-local volumes")
    mount_path: Optional[str] = doc("(default /scratch)")
    max_size: Optional[str] = doc("(default 500Gi)")
    create_storage_class: Optional[bool] = doc("ack: create the CSI local plugin's LVM class (default false)")


@dataclass
class PoolArgs:
    name: str = doc("pool name")
    slots: int = doc("slots (-1: unlimited)")
    description: Optional[str] = doc("")


@dataclass
class ImagesArgs:
    pull_policy: Optional[str] = doc("Always, IfNotPresent or Never (default: the chart's)")
    postgres: Optional[str] = doc("image of the bundled Postgres")
    redis: Optional[str] = doc("image of the Celery broker")


SecretInput = Union[str, pulumi.Output]


@dataclass
class PlatformArgs:
    """Everything one Airflow platform needs; the teams are required, the rest has defaults."""

    teams: Sequence[TeamArgs] = doc("the team tree (at least one team)", list)
    namespace: Optional[str] = doc("namespace of Airflow and the team quotas (default airflow)")
    team_namespaces: Optional[bool] = doc("each leaf team's pods in <namespace>-<team> (default: true on ack)")
    default_team: Optional[str] = doc("team of tasks that name none (default: the first leaf)")
    airflow: Optional[AirflowArgs] = doc("Airflow and its chart")
    database: Optional[DatabaseArgs] = doc("the metadata database")
    keda: Optional[KedaArgs] = doc("Celery workers scaled by KEDA")
    scheduler: Optional[SchedulerArgs] = doc("the batch scheduler that places task pods")
    queue: Optional[QueueArgs] = doc("the job queue in front of it")
    local_disk: Optional[LocalDiskArgs] = doc("node-local volumes for IO-heavy tasks")
    pools: Optional[Sequence[PoolArgs]] = doc("Airflow pools beside the teams' own")
    images: Optional[ImagesArgs] = doc("where the chart's non-Airflow images come from")
    # Secrets: dbPassword, fernetKey, apiSecretKey, jwtSecret, redisPassword, adminPassword.
    secrets: Mapping[str, SecretInput] = doc("secret values by stack key (generated when absent); pass "
                                             "pulumi secrets, e.g. config.require_secret('dbPassword')", dict)
    stack: Optional[str] = doc("the name errors give (default: the Pulumi stack)")

    def to_config(self) -> dict[str, Any]:
        """The stack-file mapping of these arguments (without secrets and `stack`)."""
        return {key: value for key, value in _to_config(self).items() if key not in ("secrets", "stack")}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _to_config(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(item.name): _to_config(getattr(value, item.name))
                for item in dataclasses.fields(value) if getattr(value, item.name) is not None}
    if isinstance(value, Mapping):
        return {key: _to_config(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_config(item) for item in value]
    return value


def fields_help(cls: type, prefix: str = "") -> list[str]:
    """`key: doc` for every field of an args class, nested blocks flattened with dots."""
    lines = []
    for item in dataclasses.fields(cls):
        key = f"{prefix}{camel(item.name)}"
        lines.append(f"{key}: {item.metadata.get('doc', '')}")
        inner = re.findall(r"[A-Za-z]+Args", str(item.type))
        for name in inner:
            nested = globals().get(name)
            if nested is not None and nested is not cls:
                lines += fields_help(nested, f"{key}.")
    return lines
