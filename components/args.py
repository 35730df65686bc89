"""Typed arguments of `Platform`: the one declaration of every stack key.

Every class mirrors one block of a stack file (`stacks/Pulumi.<stack>.yaml`): a field
`max_active_tasks_per_dag` is the stack key `maxActiveTasksPerDag`. Each field carries the key's
doc and the default it shows, read from the settings dataclasses that apply it (one place per
value); the README's "Stack switches" table and `Pulumi.yaml`'s config block are generated from
these fields (`make docs`; tests/unit/test_stack_keys.py fails when they drift). A field left at
None takes the kit's default. The one validator (`settings.load_settings`) checks what
`to_config()` returns, so a stack file and a Python program get the same one-line errors.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi

from airflow_kit_platform import versions
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.teams import TaskResources, Team
from airflow_kit_platform.settings import (
    DEFAULT_NAMESPACE,
    AirflowSettings,
    Concurrency,
    Database,
    GitSync,
    Keda,
    LoadAware,
    LocalDisk,
    Overcommit,
    Pool,
    QueueSettings,
    QuotaTree,
    SchedulerSettings,
    Settings,
)
from airflow_kit_platform.settings.airflow import AUTH_MANAGERS, DAG_SOURCES, KNOWN_EXECUTORS, LogsVolume
from airflow_kit_platform.settings.common import PULL_POLICIES, SECRET_KEYS


class Words(str):
    """A default that depends on other keys, said in words (the table shows it unquoted)."""


_NOT_SHOWN = object()


def doc(text: str, default: Any = None, *, kit: Any = _NOT_SHOWN) -> Any:
    """A field with its doc and the kit's default it shows (`kit`); `default` is the Python one."""
    metadata = {"doc": text}
    if kit is not _NOT_SHOWN:
        metadata["kit"] = kit
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _choices(values: Sequence[str]) -> str:
    return ", ".join(f"`{value}`" for value in values)


Quantities = Mapping[str, str]  # resource -> Kubernetes quantity, e.g. {"cpu": "4", "memory": "16Gi"}


@dataclass
class TaskResourcesArgs:
    cpu: Optional[str] = doc("cpu request of one task pod", kit=TaskResources.cpu)
    memory: Optional[str] = doc("memory request of one task pod", kit=TaskResources.memory)
    cpu_limit: Optional[str] = doc("cpu limit", kit=Words("the request"))
    memory_limit: Optional[str] = doc("memory limit", kit=Words("the request"))


@dataclass
class EgressArgs:
    cidr: str = doc("address block a team's task pods may connect to, e.g. `10.20.0.0/16`", kit=Words("required"))
    ports: Optional[Sequence[int]] = doc("its TCP ports", kit=Words("every port"))


@dataclass
class TeamArgs:
    name: str = doc("DNS label (at most 50 characters); the team's Airflow pool is `team-<name>`",
                    kit=Words("required"))
    min: Quantities = doc("guaranteed share (`cpu`, `memory`, `nvidia.com/gpu`, `ephemeral-storage`)", dict,
                          kit=Words("required"))
    max: Quantities = doc("ceiling it may borrow up to", dict, kit=Words("required"))
    parent: Optional[str] = doc("parent team (a tree of quotas; a team with children runs no tasks)",
                                kit=Words("a top-level team"))
    weight: Optional[int] = doc("its share of idle capacity among siblings", kit=Team.weight)
    priority: Optional[str] = doc("`prod`, `mid`, `batch` or `free`", kit=Team.priority)
    overcommit: Optional[bool] = doc("its tasks run as best-effort work on idle capacity (`scheduler.overcommit`)",
                                     kit=Team.overcommit)
    image: Optional[str] = doc("the team's fused worker image",
                               kit=Words("`<businessImage>-airflow-<airflow.version>` with a `businessImage` (an "
                                         "Airflow upgrade moves it too), else the Airflow image"))
    business_image: Optional[str] = doc("the team's business image; `make worker-images` renders the build context "
                                        "of its fused worker image (business image + Airflow's worker)")
    task_resources: Optional[TaskResourcesArgs] = doc("default requests and limits of a task pod")
    pool_slots: Optional[int] = doc("slots of its Airflow pool",
                                    kit=Words("as many tasks as `max` holds at `taskResources` (`min` on the "
                                              "`default` backend)"))
    node_selector: Optional[Mapping[str, str]] = doc("node selector of its task pods", kit={})
    tolerations: Optional[Sequence[Mapping[str, Any]]] = doc("tolerations of its task pods", kit=[])
    task_retries: Optional[int] = doc("default retries of its tasks",
                                      kit=Words("2 where its pods can be preempted, else Airflow's"))
    metadata_access: Optional[bool] = doc("give its pods the metadata DB connection and the Fernet key (Airflow 3 "
                                          "tasks read connections and variables through the Execution API and need "
                                          "neither); not with `teamNamespaces`", kit=Team.metadata_access)
    egress: Optional[Sequence[EgressArgs]] = doc("with `networkPolicies`: what else its task pods may connect to",
                                                 kit=[])


@dataclass
class ConcurrencyArgs:
    parallelism: Optional[int] = doc("`[core] parallelism`; unset: sized from the tree (team pool slots + Celery "
                                     "capacity, at least 32); a given one below that is refused (see \"Waiting for "
                                     "quota\")", kit=Words("sized"))
    max_active_tasks_per_dag: Optional[int] = doc("`[core] max_active_tasks_per_dag`",
                                                  kit=Concurrency.max_active_tasks_per_dag)
    max_active_runs_per_dag: Optional[int] = doc("`[core] max_active_runs_per_dag`",
                                                 kit=Concurrency.max_active_runs_per_dag)
    worker_concurrency: Optional[int] = doc("`[celery] worker_concurrency`", kit=Concurrency.worker_concurrency)
    worker_pods_creation_batch_size: Optional[int] = doc("KubernetesExecutor pods created per scheduler loop "
                                                         "(Airflow's 1 is far too slow)",
                                                         kit=Concurrency.worker_pods_creation_batch_size)
    task_publish_max_retries: Optional[int] = doc("retries of a task pod refused at admission (a ResourceQuota)",
                                                  kit=Concurrency.task_publish_max_retries)


@dataclass
class AirflowChartArgs:
    install: Optional[bool] = doc("install Airflow's chart (false: render only the kit's objects)",
                                  kit=AirflowSettings.install)
    path: Optional[str] = doc("a local chart (air-gapped): a package, a chart folder, or a folder of packages such "
                              "as `.charts` (the package of `airflow.version` is picked)",
                              kit=Words("the pinned chart from its repository"))


@dataclass
class AirflowImageArgs:
    repository: Optional[str] = doc("Airflow image of the components", kit=AirflowSettings.image_repository)
    tag: Optional[str] = doc("its tag", kit=Words("`airflow.version`"))


@dataclass
class GitSyncArgs:
    repo: Optional[str] = doc("DAG repository (with `dagSource: gitSync`)", kit=Words("required"))
    branch: Optional[str] = doc("branch", kit=GitSync.branch)
    sub_path: Optional[str] = doc("folder of the DAGs", kit=GitSync.sub_path)
    period: Optional[str] = doc("sync period, e.g. 30s, 5m", kit=GitSync.period)
    credentials_secret: Optional[str] = doc("Secret with the repository's credentials")


@dataclass
class CeleryWorkerResourcesArgs:
    cpu: Optional[str] = doc("Celery worker cpu request", kit=AirflowSettings.celery_worker_cpu)
    memory: Optional[str] = doc("Celery worker memory request and limit, sized from the measured ~272 MiB per task "
                                "process", kit=Words("300Mi x workerConcurrency + 512Mi"))


@dataclass
class LogsVolumeArgs:
    storage_class: Optional[str] = doc("StorageClass of the one volume for every component's and task's logs: a "
                                       "KubernetesExecutor task's log stays readable in the UI and API after its pod "
                                       "is gone", kit=Words("the cluster's default"))
    size: Optional[str] = doc("its size", kit=LogsVolume.size)
    access_mode: Optional[str] = doc("`ReadWriteMany`, or `ReadWriteOnce` on one node", kit=LogsVolume.access_mode)
    source: Optional[Mapping[str, Any]] = doc(
        "instead of `storageClass`, the shared storage itself as a PersistentVolume source (`nfs`, `csi` or "
        "`hostPath`): each namespace that runs tasks gets a claim bound to it (required with `teamNamespaces`)",
        kit=Words("none"))


@dataclass
class AirflowArgs:
    version: Optional[str] = doc("the Airflow release, one of the tested pairs (README): the chart version, the image "
                                 "tag, the fused worker images' Airflow and the chart's `airflowVersion` all follow it",
                                 kit=versions.AIRFLOW_VERSION)
    executors: Optional[Sequence[str]] = doc(f"executor list, first is the default: {_choices(KNOWN_EXECUTORS)}",
                                             kit=list(AirflowSettings.executors))
    chart: Optional[AirflowChartArgs] = doc("Airflow's chart")
    image: Optional[AirflowImageArgs] = doc("the components' image")
    concurrency: Optional[ConcurrencyArgs] = doc("Airflow's limits")
    dag_source: Optional[str] = doc(f"where DAGs come from: {_choices(DAG_SOURCES)} (baked into the image)",
                                    kit=AirflowSettings.dag_source)
    git_sync: Optional[GitSyncArgs] = doc("the DAG repository")
    api_server_replicas: Optional[int] = doc("API server replicas", kit=AirflowSettings.api_server_replicas)
    scheduler_replicas: Optional[int] = doc("scheduler replicas (Airflow 3 runs several side by side; 2 for HA)",
                                            kit=AirflowSettings.scheduler_replicas)
    triggerer_replicas: Optional[int] = doc("triggerer replicas (2 for HA: a deferred task resumes on the other "
                                            "when one dies)", kit=AirflowSettings.triggerer_replicas)
    pod_disruption_budgets: Optional[bool] = doc("a PodDisruptionBudget (maxUnavailable 1) for the scheduler, API "
                                                 "server and triggerer", kit=Words("true when any of them has 2 or "
                                                                                   "more replicas"))
    celery_worker_replicas: Optional[int] = doc("Celery worker replicas without KEDA",
                                                kit=AirflowSettings.celery_worker_replicas)
    celery_worker_resources: Optional[CeleryWorkerResourcesArgs] = doc("Celery worker requests")
    job_tasks: Optional[bool] = doc("the chart's Job RBAC (`allowJobLaunching`); on by itself when `queue.backend` is "
                                    "not `none`", kit=AirflowSettings.job_tasks)
    statsd: Optional[bool] = doc("the chart's StatsD exporter", kit=AirflowSettings.statsd)
    auth_manager: Optional[str] = doc(f"{_choices(AUTH_MANAGERS)}: `fab` (the chart's user job creates the web admin; "
                                      "needs the FAB provider, as in the official image) or `simple` (Airflow's "
                                      "SimpleAuthManager, user `admin`); the password is the secret `adminPassword` "
                                      "(`pulumi stack output adminPassword --show-secrets`)",
                                      kit=AirflowSettings.auth_manager)
    logs_volume: Optional[LogsVolumeArgs] = doc("one volume for every log", kit=Words("off"))
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of the Airflow chart (ingress, metrics, component "
                                                    "resources, PDBs...), merged under the kit's; a key the kit sets "
                                                    "is refused with its name", kit={})
    config: Optional[Mapping[str, Mapping[str, Any]]] = doc("extra `airflow.cfg` options, `section: {option: value}`, "
                                                            "merged under the kit's the same way", kit={})


@dataclass
class DatabaseArgs:
    mode: Optional[str] = doc("`bundled` (dev only) or `external` (with `host` and the secret `dbPassword`)",
                              kit=Database.mode)
    host: Optional[str] = doc("external Postgres host")
    port: Optional[int] = doc("its port", kit=Database.port)
    name: Optional[str] = doc("database name", kit=Database.name)
    user: Optional[str] = doc("database user", kit=Database.user)
    sslmode: Optional[str] = doc("libpq sslmode of an external database (pgbouncer's to it, else Airflow's)",
                                 kit=Database.sslmode)
    pgbouncer: Optional[bool] = doc("the chart's PgBouncer in front of an external database", kit=Database.pgbouncer)
    ca_secret: Optional[str] = doc("a Secret of the stack's namespace whose `ca.crt` signed the database's "
                                   "certificate; required with `verify-ca` and `verify-full`")


@dataclass
class KedaArgs:
    enabled: Optional[bool] = doc("scale Celery workers with KEDA, to zero", kit=Keda.enabled)
    install: Optional[bool] = doc("install KEDA's chart (false: the cluster has KEDA)", kit=Keda.install)
    min_replicas: Optional[int] = doc("fewest Celery workers", kit=Keda.min_replicas)
    max_replicas: Optional[int] = doc("most Celery workers", kit=Keda.max_replicas)
    polling_interval: Optional[int] = doc("seconds between KEDA's looks at the queue", kit=Keda.polling_interval)
    cooldown_period: Optional[int] = doc("seconds idle before scaling down", kit=Keda.cooldown_period)
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of KEDA's chart (refused when the kit installs it "
                                                    "not)", kit={})


@dataclass
class LoadAwareArgs:
    enabled: Optional[bool] = doc("load-aware placement: a node over a threshold takes no new task pod",
                                  kit=LoadAware.enabled)
    cpu_threshold_percent: Optional[int] = doc("node cpu usage threshold", kit=LoadAware.cpu_threshold_percent)
    memory_threshold_percent: Optional[int] = doc("node memory usage threshold",
                                                  kit=LoadAware.memory_threshold_percent)
    cpu_estimated_scaling_percent: Optional[int] = doc("share of a new pod's cpu limit counted before it shows usage",
                                                       kit=LoadAware.cpu_estimated_scaling_percent)
    memory_estimated_scaling_percent: Optional[int] = doc("the same for memory",
                                                          kit=LoadAware.memory_estimated_scaling_percent)
    metric_expiration_seconds: Optional[int] = doc("node metrics older than this are ignored",
                                                   kit=LoadAware.metric_expiration_seconds)
    prometheus_address: Optional[str] = doc("Volcano: the Prometheus its usage plugin reads node usage from "
                                            "(required with Volcano load-aware placement)")


@dataclass
class OvercommitArgs:
    enabled: Optional[bool] = doc("batch teams (`overcommit: true`) run on idle capacity as best-effort work",
                                  kit=Overcommit.enabled)
    cpu_reclaim_threshold_percent: Optional[int] = doc("Koordinator: node cpu share above which batch capacity is "
                                                       "reclaimed", kit=Overcommit.cpu_reclaim_threshold_percent)
    memory_reclaim_threshold_percent: Optional[int] = doc("Koordinator: the same for memory",
                                                          kit=Overcommit.memory_reclaim_threshold_percent)
    manage_slo_config: Optional[bool] = doc("ack: apply the `kube-system/ack-slo-config` change as a ConfigMapPatch "
                                            "(false: the kit prints it)", kit=Overcommit.manage_slo_config)


@dataclass
class QuotaTreeArgs:
    owner: Optional[str] = doc("ack: `kit` (the kit creates the cluster's one ElasticQuotaTree) or `admin` (the "
                               "kit exports its subtree: stack output `quotaSubtree` and "
                               "`exports/<stack>-elasticquotatree-subtree.yaml`)", kit=QuotaTree.owner)
    root: Optional[Quantities] = doc("ack: the root's min == max (`cpu`, `memory`)",
                                     kit=Words("the kit's subtree max"))


@dataclass
class SchedulerArgs:
    backend: Optional[str] = doc(f"{_choices(BACKENDS)} (`ack`: ACK Pro's own scheduler and managed add-ons)",
                                 kit=SchedulerSettings.backend)
    install: Optional[bool] = doc("install the backend's chart (false: an existing install)",
                                  kit=Words(", ".join(f"`{name}` {str(facts.installs_chart).lower()}"
                                                      for name, facts in BACKENDS.items())))
    chart_version: Optional[str] = doc("the backend chart's version", kit=Words("the pinned one"))
    image_registry: Optional[str] = doc("registry of the backend's images (required to install Koordinator)")
    load_aware: Optional[LoadAwareArgs] = doc("load-aware placement")
    overcommit: Optional[OvercommitArgs] = doc("best-effort overcommit of idle capacity")
    deschedule_low_node_load: Optional[bool] = doc("Koordinator's LowNodeLoad descheduling",
                                                   kit=SchedulerSettings.deschedule_low_node_load)
    retain_queues: Optional[bool] = doc("queues, quotas and the scheduler CRDs are kept on `pulumi destroy`, backend "
                                        "switches and chart upgrades (see \"Removing queues on purpose\")",
                                        kit=SchedulerSettings.retain_queues)
    max_queue_wait: Optional[str] = doc("how long a task may wait for its team's quota before Airflow fails it; "
                                        "drives Airflow's clocks (see \"Waiting for quota\")",
                                        kit=Words(", ".join(f"`{name}` {facts.max_queue_wait}"
                                                            for name, facts in BACKENDS.items())))
    reclaim_delay: Optional[str] = doc("Koordinator: how long a team may stay above its weighted share before its "
                                       "borrowed pods are evicted (`delayEvictTime`)",
                                       kit=f"{SchedulerSettings.reclaim_delay_seconds}s")
    queue_mode: Optional[str] = doc("Volcano: `flat` (a queue per leaf team: lent capacity is "
                                    "reclaimed) or `hierarchy` (the team tree, the capacity plugin: parents' max "
                                    "hold, lent capacity returns only as tasks finish)",
                                    kit=Words("`flat` unless a parent's max is below its teams' max added up"))
    scheduler_name: Optional[str] = doc("the scheduler every task and Job pod names",
                                        kit=Words(", ".join(f"`{name}` {facts.scheduler_name}"
                                                            for name, facts in BACKENDS.items())))
    quota_tree: Optional[QuotaTreeArgs] = doc("ack: the cluster's ElasticQuotaTree")
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of the backend's chart (refused when the kit "
                                                    "installs none)", kit={})


@dataclass
class QueueArgs:
    backend: Optional[str] = doc("`none`, `koord-queue` (installed) or `ack` (managed kube-queue) for suspended Job "
                                 "tasks", kit=QueueSettings.backend)
    install: Optional[bool] = doc("install koord-queue", kit=Words("true for `koord-queue`"))
    chart_version: Optional[str] = doc("koord-queue's chart version", kit=QueueSettings.chart_version)
    chart_values: Optional[Mapping[str, Any]] = doc("extra values of koord-queue's chart", kit={})


@dataclass
class LocalDiskArgs:
    storage_class: str = doc("StorageClass of node-local volumes (WaitForFirstConsumer) for IO-heavy tasks",
                             kit=Words("required"))
    mount_path: Optional[str] = doc("where a task sees it", kit=LocalDisk.mount_path)
    max_size: Optional[str] = doc("largest volume a task may ask for", kit=LocalDisk.max_size)
    create_storage_class: Optional[bool] = doc("ack: create the CSI local plugin's LVM class",
                                               kit=LocalDisk.create_storage_class)


@dataclass
class PoolArgs:
    name: str = doc("pool name (not `team-<name>`: every leaf team has that one)", kit=Words("required"))
    slots: int = doc("slots (-1: unlimited)", kit=Words("required"))
    description: Optional[str] = doc("shown in the UI", kit=Pool.description)


@dataclass
class ImagesArgs:
    pull_policy: Optional[str] = doc(f"{_choices(PULL_POLICIES)} for every chart image and the kit's own pods",
                                     kit=Words("the chart's"))
    postgres: Optional[str] = doc("image of the bundled Postgres (a private registry, or an image loaded on the nodes; "
                                  "`local-node` uses the ones `scripts/images.sh` builds)", kit=Words("the chart's"))
    redis: Optional[str] = doc("image of the Celery broker", kit=Words("the chart's"))


SecretInput = Union[str, pulumi.Output]


@dataclass
class PlatformArgs:
    """Everything one Airflow platform needs; the teams are required, the rest has defaults."""

    teams: Sequence[TeamArgs] = doc("the team tree (at least one team)", list, kit=Words("required"))
    namespace: Optional[str] = doc("namespace of Airflow, its secrets and team pod templates", kit=DEFAULT_NAMESPACE)
    team_namespaces: Optional[bool] = doc(
        "each leaf team's task pods and Jobs run in `<namespace>-<team>` (created and deleted with the stack, with the "
        "pod templates, airflow.cfg, the worker ServiceAccount and a Role to launch pods/Jobs there only; no Secret is "
        "copied); the executor watches exactly those namespaces. Not with `metadataAccess`; `airflow.logsVolume` "
        "needs its `source`",
        kit=Words(", ".join(f"`{name}`" for name, facts in BACKENDS.items() if facts.team_namespaces_required)
                  + " true, else false"))
    default_team: Optional[str] = doc("whose pod template is the chart's default", kit=Words("the first leaf team"))
    network_policies: Optional[bool] = doc(
        "NetworkPolicies on team task pods: they connect to DNS, the Execution API and their team's `egress` only "
        "(never the metadata database, pgbouncer or Redis); enforced where the cluster's network enforces policies",
        kit=Settings.network_policies)
    airflow: Optional[AirflowArgs] = doc("Airflow and its chart")
    database: Optional[DatabaseArgs] = doc("the metadata database")
    keda: Optional[KedaArgs] = doc("Celery workers scaled by KEDA")
    scheduler: Optional[SchedulerArgs] = doc("the batch scheduler that places task pods")
    queue: Optional[QueueArgs] = doc("the job queue in front of it")
    local_disk: Optional[LocalDiskArgs] = doc("node-local volumes for IO-heavy tasks", kit=Words("off"))
    pools: Optional[Sequence[PoolArgs]] = doc("extra Airflow pools beside the teams' own", kit=[])
    images: Optional[ImagesArgs] = doc("where the chart's non-Airflow images come from")
    secrets: Mapping[str, SecretInput] = doc(
        f"{', '.join(f'`{key}`' for key in SECRET_KEYS)}: set with `pulumi config set --secret` (a program passes "
        "pulumi secrets); a given value replaces the generated one (`dbPassword` is Airflow's database user's, "
        "required for an external database; `dbSuperuserPassword` the bundled database's superuser's, which "
        "Airflow does not use)", dict, kit=Words("generated"))
    stack: Optional[str] = doc("the name errors give (default: the Pulumi stack)")

    def to_config(self) -> dict[str, Any]:
        """The stack-file mapping of these arguments (without secrets and `stack`)."""
        return {key: value for key, value in _to_config(self).items() if key not in ("secrets", "stack")}

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], *, stack: Optional[str] = None,
                    secrets: Optional[Mapping[str, SecretInput]] = None) -> "PlatformArgs":
        """Typed arguments from a stack file's mapping (validated first by `settings.load_settings`)."""
        args = _from_config(cls, raw)
        args.stack = stack
        args.secrets = dict(secrets or {})
        return args


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


def _nested(item: dataclasses.Field) -> Optional[type]:
    """The args class a field holds (alone or in a list), if any."""
    for name in re.findall(r"[A-Za-z]+Args", str(item.type)):
        nested = globals().get(name)
        if nested is not None:
            return nested
    return None


def _from_config(cls: type, raw: Mapping[str, Any]) -> Any:
    fields = {camel(item.name): item for item in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise KeyError(f"{cls.__name__} declares no stack key {key!r}")
        item = fields[key]
        nested = _nested(item)
        if nested is not None and isinstance(value, list):
            value = [_from_config(nested, entry) for entry in value]
        elif nested is not None and isinstance(value, Mapping):
            value = _from_config(nested, value)
        values[item.name] = value
    return cls(**values)


def declared_keys(cls: type = PlatformArgs, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """(stack key, its field) of every key, blocks flattened with dots, lists with `[]`."""
    keys = []
    for item in dataclasses.fields(cls):
        if cls is PlatformArgs and item.name == "stack":
            continue  # a program's argument, not a stack key
        key = f"{prefix}{camel(item.name)}"
        nested = _nested(item)
        if nested is None:
            keys.append((key, item))
        elif "Sequence" in str(item.type):
            keys.append((key, item))
            keys += declared_keys(nested, f"{key}[].")
        else:
            keys += declared_keys(nested, f"{key}.")
    return keys


def switch_rows(cls: type = PlatformArgs, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, meaning) of every stack key: the README's table."""
    return [(key, _shown(item), item.metadata.get("doc", "")) for key, item in declared_keys(cls, prefix)]


def declared_defaults() -> list[tuple[str, Any]]:
    """(key, value) of every key whose default is a value (not words)."""
    return [(key, item.metadata["kit"]) for key, item in declared_keys()
            if "kit" in item.metadata and not isinstance(item.metadata["kit"], Words)]


def _shown(item: dataclasses.Field) -> str:
    if "kit" not in item.metadata:
        return "unset"
    value = item.metadata["kit"]
    if isinstance(value, Words):
        return str(value)
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple)):
        return f"`[{', '.join(str(entry) for entry in value)}]`"
    if isinstance(value, Mapping):
        return "`{}`" if not value else f"`{dict(value)}`"
    if value == "":
        return "`\"\"`"
    return f"`{value}`"


def fields_help(cls: type, prefix: str = "") -> list[str]:
    """`key: doc (default: ...)` for every field of an args class, nested blocks flattened."""
    return [f"{key}: {meaning} (default: {default})" for key, default, meaning in switch_rows(cls, prefix)]
