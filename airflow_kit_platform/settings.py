"""Typed stack settings: one loader turns the stack's config into frozen dataclasses.

`load_settings` is pure: it takes the stack name and the project's config keys (already
JSON-decoded, as `pulumi.Config` holds them) and either returns `Settings` or raises
`ConfigError` naming the stack, the key, the bad value and what is allowed. Secrets never
pass through here: only whether they were given (`secret_keys`); `__main__` reads them as
Pulumi secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from airflow_kit import names
from airflow_kit_platform import versions
from airflow_kit_platform.config_reader import DNS_LABEL, ConfigError, Section, did_you_mean
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import cluster_name
from airflow_kit_platform.model.teams import Team, TeamTree, read_teams
from airflow_kit_platform.quantities import format_quantity, parse_quantity

KNOWN_EXECUTORS = ("CeleryExecutor", "KubernetesExecutor", "LocalExecutor")
# Who owns the cluster's one ElasticQuotaTree on ACK: the kit, or the cluster admin (then the
# kit exports its subtree to merge).
QUOTA_TREE_OWNERS = ("kit", "admin")
QUEUE_BACKENDS = names.QUEUE_BACKENDS  # teams.json carries it to the DAG helper
# The scheduler backend each job queue works with, and why.
QUEUE_NEEDS = {"koord-queue": ("koordinator", "koord-queue maps Jobs to Koordinator ElasticQuotas"),
               "ack": ("ack", "ACK kube-queue maps Jobs to the leaves of the ElasticQuotaTree")}
DATABASE_MODES = ("bundled", "external")
DAG_SOURCES = ("gitSync", "image")
# Config keys that hold secrets; read with `pulumi config set --secret`.
SECRET_KEYS = ("dbPassword", "fernetKey", "apiSecretKey", "jwtSecret", "redisPassword", "adminPassword")
# `fab`: the chart's default (FabAuthManager; its user job creates the web admin `admin`; needs the
# FAB provider, which the official image has). `simple`: Airflow's built-in SimpleAuthManager, one
# `admin` user, no user job, no FAB. Either way the password is `adminPassword` (a Pulumi secret,
# generated when not given) and reaches Airflow only through a Kubernetes Secret.
AUTH_MANAGERS = ("fab", "simple")
TOP_LEVEL_KEYS = ("namespace", "teamNamespaces", "airflow", "database", "keda", "scheduler", "queue", "teams",
                  "defaultTeam", "localDisk", "pools", "images") + SECRET_KEYS
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# `[registry[:port]/]path[:tag][@digest]`, the shape Kubernetes accepts in `image:`.
IMAGE_REFERENCE = re.compile(r"^[a-z0-9]([-a-z0-9._:]*[a-z0-9])?(/[a-z0-9._-]+)*(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?$")
GIT_SYNC_PERIOD = re.compile(r"^[0-9]+(s|m|h)$")
STORAGE_CLASS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
SCHEDULER_NAME = STORAGE_CLASS_NAME  # the same DNS-subdomain shape
MIN_QUEUE_WAIT_SECONDS = 30
# Retries a task of a team whose pods can be preempted gets unless it says otherwise.
PREEMPTIBLE_TASK_RETRIES = 2
DNS_LABEL_MAX = 63  # a namespace name
DEFAULT_NAMESPACE = "airflow"


AIRFLOW_DEFAULT_PARALLELISM = 32


@dataclass(frozen=True)
class Concurrency:
    # Unset in the stack: sized from the team tree (see _sized_concurrency).
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


@dataclass(frozen=True)
class LogsVolume:
    """One volume for every component's and task's logs, so a task's log outlives its pod
    (the API server reads it from there). ReadWriteMany across nodes; ReadWriteOnce is enough
    on a single node."""
    storage_class: Optional[str]
    size: str = "10Gi"
    access_mode: str = "ReadWriteMany"


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
    celery_worker_replicas: int = 1  # used only without KEDA
    # Celery worker requests; None: sized from worker_concurrency (see celery_worker_resources()).
    celery_worker_cpu: Optional[str] = None
    celery_worker_memory: Optional[str] = None
    job_tasks: bool = False  # RBAC for KubernetesJobOperator (allowJobLaunching)
    statsd: bool = True  # the chart's StatsD exporter (metrics); off where nothing scrapes it
    auth_manager: str = "fab"  # AUTH_MANAGERS
    logs_volume: Optional[LogsVolume] = None  # None: logs live and die with each pod
    # Passthrough (airflow_kit_platform/passthrough.py): chart values and airflow.cfg options the
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
        cpu = self.celery_worker_cpu or "1"
        return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}

    @property
    def executor(self) -> str:
        """The chart's `executor` value: a comma list, no spaces, default first."""
        return ",".join(self.executors)


@dataclass(frozen=True)
class Database:
    mode: str = "bundled"
    host: Optional[str] = None
    # An external database's connection (the bundled one ignores them: no TLS, no PgBouncer).
    port: int = 5432
    name: str = "airflow"
    user: str = "airflow"
    sslmode: str = "require"
    pgbouncer: bool = True


@dataclass(frozen=True)
class Keda:
    enabled: bool = False
    install: bool = True
    min_replicas: int = 0
    max_replicas: int = 10
    polling_interval: int = 5
    cooldown_period: int = 30
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # KEDA's chart, when the kit installs it


@dataclass(frozen=True)
class LoadAware:
    enabled: bool = True
    cpu_threshold_percent: int = 65
    memory_threshold_percent: int = 80
    cpu_estimated_scaling_percent: int = 85
    memory_estimated_scaling_percent: int = 70
    metric_expiration_seconds: int = 180
    prometheus_address: Optional[str] = None  # Volcano's usage plugin reads node metrics here


@dataclass(frozen=True)
class Overcommit:
    enabled: bool = False
    cpu_reclaim_threshold_percent: int = 60
    memory_reclaim_threshold_percent: int = 65
    queue_overcommit_factor: float = 1.2  # Volcano admission only
    # ACK: the kit patches kube-system/ack-slo-config's colocation-config itself (else it prints
    # the change): the managed add-on owns that ConfigMap, so only when the stack says so.
    manage_slo_config: bool = False


@dataclass(frozen=True)
class QuotaTree:
    """ACK's one ElasticQuotaTree (kube-system): who owns it, and its root (min == max)."""
    owner: str = "kit"
    root: Mapping[str, str] = field(default_factory=dict)  # empty: the kit's subtree's max


@dataclass(frozen=True)
class SchedulerSettings:
    backend: str = "default"
    install: bool = False  # the loader's default: the backend's `installs_chart` (model/backends.py)
    chart_version: Optional[str] = None
    image_registry: Optional[str] = None
    load_aware: LoadAware = field(default_factory=LoadAware)
    overcommit: Overcommit = field(default_factory=Overcommit)
    deschedule_low_node_load: bool = False
    # Queues, quotas and their CRDs survive destroy, backend switches and chart upgrades.
    retain_queues: bool = True
    # Seconds a task may stay queued (its pod Pending for quota) before Airflow fails it.
    max_queue_wait_seconds: int = 6 * 3600
    # Koordinator: seconds a quota may stay above its share before its borrowed pods are evicted.
    reclaim_delay_seconds: int = 120
    scheduler_name_override: Optional[str] = None  # `scheduler.schedulerName`
    quota_tree: QuotaTree = field(default_factory=QuotaTree)
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # the backend's chart, when installed

    @property
    def scheduler_name(self) -> str:
        """The scheduler every task and Job pod names."""
        return self.scheduler_name_override or BACKENDS[self.backend].scheduler_name


@dataclass(frozen=True)
class QueueSettings:
    backend: str = "none"
    install: bool = True
    chart_version: str = versions.KOORD_QUEUE_CHART_VERSION
    chart_values: Mapping[str, Any] = field(default_factory=dict)  # koord-queue's chart, when installed


@dataclass(frozen=True)
class LocalDisk:
    storage_class: str
    mount_path: str = "/scratch"
    max_size: str = "500Gi"
    create_storage_class: bool = False  # ACK: the CSI local plugin's LVM class, made by the kit


@dataclass(frozen=True)
class Images:
    """Where the chart's non-Airflow images come from (a private registry, or images loaded on
    the nodes of an air-gapped cluster); None keeps the chart's default."""
    pull_policy: Optional[str] = None  # every chart image and the kit's own pods
    postgres: Optional[str] = None  # the bundled Postgres (database.mode bundled)
    redis: Optional[str] = None  # the Celery broker


@dataclass(frozen=True)
class Pool:
    name: str
    slots: int
    description: str = ""


@dataclass(frozen=True)
class Settings:
    stack: str
    namespace: str
    airflow: AirflowSettings
    database: Database
    keda: Keda
    scheduler: SchedulerSettings
    queue: QueueSettings
    teams: TeamTree
    default_team: str
    local_disk: Optional[LocalDisk]
    pools: tuple[Pool, ...]
    images: Images = field(default_factory=Images)
    # Each leaf team's task pods run in a namespace of its own, `<namespace>-<team>` (ACK maps a
    # pod to its quota by namespace); false: every task pod runs in `namespace`.
    team_namespaces: bool = False

    def task_namespace(self, team: str) -> str:
        """Where the team's task pods and Jobs run."""
        return cluster_name(self.namespace, team) if self.team_namespaces else self.namespace

    def task_namespaces(self) -> list[str]:
        return sorted({self.task_namespace(team.name) for team in self.teams.leaves()})

    def preemptible(self, team: Team) -> bool:
        """Whether the scheduler may take a running task pod of this team away.

        Koordinator (with the kit's `monitorAllQuotas`) and Volcano (`reclaim`) take back what a
        team borrowed above its min; overcommit (BE) pods are evicted when a node gets busy.
        The default backend never preempts the kit's pods (`preemptionPolicy: Never`).
        """
        if self.scheduler.backend == "default":
            return False
        borrows = any(parse_quantity(ceiling) > parse_quantity(team.min.get(resource, "0"))
                      for resource, ceiling in team.max.items())
        return borrows or (team.overcommit and self.scheduler.overcommit.enabled)

    def task_retries(self, team: Team) -> Optional[int]:
        """The team's default task retries: its own, else PREEMPTIBLE_TASK_RETRIES when its pods
        can be preempted (a preempted pod fails the task and uses a retry), else None."""
        if team.retries is not None:
            return team.retries
        return PREEMPTIBLE_TASK_RETRIES if self.preemptible(team) else None

    def all_pools(self) -> tuple[Pool, ...]:
        """One pool per leaf team (its slots), then the stack's extra pools."""
        team_pools = tuple(Pool(team.pool, team.pool_slots, f"Tasks of team {team.name}")
                           for team in self.teams.leaves())
        return team_pools + self.pools


def load_settings(stack: str, raw: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Validate the whole stack config; the first problem found raises ConfigError."""
    root = Section(stack, "", {k: v for k, v in raw.items() if k not in SECRET_KEYS})
    namespace = root.string("namespace", DEFAULT_NAMESPACE, pattern=DNS_LABEL,
                            pattern_help="must be a DNS label: lower-case letters, digits and '-'")
    database = _database(root.section("database"), secret_keys)
    airflow = _airflow(root.section("airflow"))
    keda = _keda(root.section("keda"), airflow)
    scheduler = _scheduler(root.section("scheduler"))
    queue = _queue(root.section("queue"), scheduler)
    team_namespaces = root.boolean("teamNamespaces", scheduler.backend == "ack")
    if scheduler.backend == "ack" and not team_namespaces:
        raise root.error("teamNamespaces", False, "must be true on scheduler.backend ack: ACK maps a pod to its "
                         "ElasticQuotaTree leaf by the pod's namespace, so each team needs its own")
    root.accept("teams")
    teams = read_teams(stack, raw.get("teams")).with_default_pool_slots(by_min=scheduler.backend == "default")
    leaves = [team.name for team in teams.leaves()]
    default_team = root.string("defaultTeam", leaves[0])
    if default_team not in leaves:
        raise root.error("defaultTeam", default_team,
                         f"must name a team without children{did_you_mean(default_team, leaves)}; "
                         f"teams that run tasks: {', '.join(leaves)}")
    local_disk = _local_disk(root.section("localDisk"), scheduler) if root.has("localDisk") else None
    root.accept("localDisk")
    pools = _pools(root, teams)
    images = _images(root.section("images"))
    if queue.backend != "none":
        airflow = replace(airflow, job_tasks=True)  # queued Job tasks need the chart's Job RBAC
    root.accept(*SECRET_KEYS)
    root.finish()
    airflow = _sized_concurrency(stack, airflow, keda, scheduler, teams)
    settings = Settings(stack=stack, namespace=namespace, airflow=airflow, database=database, keda=keda,
                    scheduler=scheduler, queue=queue, teams=teams, default_team=default_team,
                    local_disk=local_disk, pools=pools, images=images, team_namespaces=team_namespaces)
    if team_namespaces:
        _check_team_namespaces(settings)
    return settings


def _airflow(section: Section) -> AirflowSettings:
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
    concurrency = _concurrency(section.section("concurrency"))
    worker = section.section("celeryWorkerResources")
    celery_worker_cpu, celery_worker_memory = worker.quantity("cpu", None), worker.quantity("memory", None)
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
        celery_worker_replicas=section.integer("celeryWorkerReplicas", AirflowSettings.celery_worker_replicas, minimum=0),
        celery_worker_cpu=celery_worker_cpu,
        celery_worker_memory=celery_worker_memory,
        job_tasks=section.boolean("jobTasks", AirflowSettings.job_tasks),
        statsd=section.boolean("statsd", AirflowSettings.statsd),
        auth_manager=section.choice("authManager", AUTH_MANAGERS, AirflowSettings.auth_manager),
        logs_volume=_logs_volume(section.section("logsVolume")) if section.has("logsVolume") else None,
        chart_values=section.mapping("chartValues"),
        config=section.config_sections("config"),
    )
    section.finish()
    return settings


def _concurrency(section: Section) -> Concurrency:
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


def _database(section: Section, secret_keys: frozenset[str]) -> Database:
    mode = section.choice("mode", DATABASE_MODES, Database.mode)
    if mode == "bundled":
        database = Database(mode=mode)
        section.finish()
        return database
    database = Database(
        mode=mode,
        host=section.string("host"),
        port=section.integer("port", Database.port, minimum=1, maximum=65535),
        name=section.string("name", Database.name),
        user=section.string("user", Database.user),
        sslmode=section.choice("sslmode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
                               Database.sslmode),
        pgbouncer=section.boolean("pgbouncer", Database.pgbouncer),
    )
    section.finish()
    if "dbPassword" not in secret_keys:
        raise ConfigError(section.stack, "dbPassword", None,
                          "is required as a secret for an external database: "
                          "pulumi config set --secret dbPassword <password>")
    return database


def _keda(section: Section, airflow: AirflowSettings) -> Keda:
    keda = Keda(
        enabled=section.boolean("enabled", Keda.enabled),
        install=section.boolean("install", Keda.install),
        min_replicas=section.integer("minReplicas", Keda.min_replicas, minimum=0),
        max_replicas=section.integer("maxReplicas", Keda.max_replicas, minimum=1),
        polling_interval=section.integer("pollingInterval", Keda.polling_interval, minimum=1),
        cooldown_period=section.integer("cooldownPeriod", Keda.cooldown_period, minimum=0),
        chart_values=section.mapping("chartValues"),
    )
    _chart_values_need_install(section, keda.chart_values, keda.enabled and keda.install, "keda.enabled and keda.install")
    if keda.min_replicas > keda.max_replicas:
        raise section.error("minReplicas", keda.min_replicas, f"must not exceed maxReplicas ({keda.max_replicas})")
    if keda.enabled and "CeleryExecutor" not in airflow.executors:
        raise section.error("enabled", True, "KEDA scales Celery workers: airflow.executors must include CeleryExecutor")
    section.finish()
    return keda


def _percent(section: Section, name: str, default: int) -> int:
    return section.integer(name, default, minimum=1, maximum=100)


def _scheduler(section: Section) -> SchedulerSettings:
    backend = section.choice("backend", tuple(BACKENDS), SchedulerSettings.backend)
    install = section.boolean("install", BACKENDS[backend].installs_chart)
    chart_version = section.string("chartVersion", None)
    image_registry = section.string("imageRegistry", None)
    if backend == "koordinator" and install and image_registry is None:
        # The chart's default points at a Beijing registry; an implicit pull from there is a surprise.
        raise section.error("imageRegistry", None,
                            "is required when the kit installs Koordinator (e.g. registry.k8s.io mirror or "
                            "registry-cn-hangzhou.ack.aliyuncs.com)")
    block = section.section("loadAware")
    load_aware = LoadAware(
        enabled=block.boolean("enabled", LoadAware.enabled),
        cpu_threshold_percent=_percent(block, "cpuThresholdPercent", LoadAware.cpu_threshold_percent),
        memory_threshold_percent=_percent(block, "memoryThresholdPercent", LoadAware.memory_threshold_percent),
        cpu_estimated_scaling_percent=_percent(block, "cpuEstimatedScalingPercent", LoadAware.cpu_estimated_scaling_percent),
        memory_estimated_scaling_percent=_percent(block, "memoryEstimatedScalingPercent", LoadAware.memory_estimated_scaling_percent),
        metric_expiration_seconds=block.integer("metricExpirationSeconds", LoadAware.metric_expiration_seconds, minimum=10),
        prometheus_address=block.string("prometheusAddress", None),
    )
    block.finish()
    if backend == "volcano" and load_aware.enabled and load_aware.prometheus_address is None:
        raise block.error("prometheusAddress", None,
                          "is required for Volcano load-aware scheduling (the usage plugin reads node "
                          "usage from Prometheus), or set loadAware.enabled: false")
    block = section.section("overcommit")
    overcommit = Overcommit(
        enabled=block.boolean("enabled", Overcommit.enabled),
        cpu_reclaim_threshold_percent=_percent(block, "cpuReclaimThresholdPercent", Overcommit.cpu_reclaim_threshold_percent),
        memory_reclaim_threshold_percent=_percent(block, "memoryReclaimThresholdPercent", Overcommit.memory_reclaim_threshold_percent),
        queue_overcommit_factor=block.number("queueOvercommitFactor", Overcommit.queue_overcommit_factor, minimum=1.0),
        manage_slo_config=block.boolean("manageSloConfig", Overcommit.manage_slo_config),
    )
    if overcommit.manage_slo_config and backend != "ack":
        raise block.error("manageSloConfig", True, "applies to scheduler.backend ack (kube-system/ack-slo-config); "
                          "with koordinator the kit sets colocation through its chart")
    block.finish()
    quota_tree = QuotaTree()
    if section.has("quotaTree"):
        block = section.section("quotaTree")
        if backend != "ack":
            raise section.error("quotaTree", block.data, "applies to scheduler.backend ack (its one ElasticQuotaTree)")
        owner = block.choice("owner", QUOTA_TREE_OWNERS, QuotaTree.owner)
        root = block.section("root")
        quota_tree = QuotaTree(owner=owner, root={resource: root.quantity(resource) for resource in root.data})
        block.finish()
    scheduler = SchedulerSettings(
        backend=backend, install=install, chart_version=chart_version, image_registry=image_registry,
        load_aware=load_aware, overcommit=overcommit,
        deschedule_low_node_load=section.boolean("descheduleLowNodeLoad", SchedulerSettings.deschedule_low_node_load),
        retain_queues=section.boolean("retainQueues", SchedulerSettings.retain_queues),
        max_queue_wait_seconds=section.duration("maxQueueWait", BACKENDS[backend].max_queue_wait,
                                                minimum_seconds=MIN_QUEUE_WAIT_SECONDS),
        reclaim_delay_seconds=section.duration("reclaimDelay", f"{SchedulerSettings.reclaim_delay_seconds}s"),
        scheduler_name_override=section.string("schedulerName", None, pattern=SCHEDULER_NAME,
                                               pattern_help="must be a scheduler name (lower-case letters, "
                                                            "digits, '-', '.')"),
        quota_tree=quota_tree,
        chart_values=section.mapping("chartValues"),
    )
    _chart_values_need_install(section, scheduler.chart_values, install, "scheduler.install")
    if backend == "ack" and install:
        raise section.error("install", True, "ACK's scheduling add-ons (ack-koordinator, the scheduler) are "
                            "managed by ACK; the kit only uses them")
    if backend == "default" and install:
        raise section.error("install", True, "the default kube-scheduler is part of the cluster; "
                            "install applies to koordinator and volcano")
    section.finish()
    return scheduler


def _queue(section: Section, scheduler: SchedulerSettings) -> QueueSettings:
    backend = section.choice("backend", QUEUE_BACKENDS, QueueSettings.backend)
    queue = QueueSettings(
        backend=backend,
        install=section.boolean("install", backend == "koord-queue"),
        chart_version=section.string("chartVersion", QueueSettings.chart_version),
        chart_values=section.mapping("chartValues"),
    )
    _chart_values_need_install(section, queue.chart_values, backend == "koord-queue" and queue.install,
                               "queue.backend koord-queue with queue.install")
    needs = QUEUE_NEEDS.get(backend)
    if needs is not None and scheduler.backend != needs[0]:
        raise section.error("backend", backend, f"{needs[1]}: needs scheduler.backend {needs[0]} (or queue.backend none)")
    if backend == "ack" and queue.install:
        raise section.error("install", True, "ACK's kube-queue is a managed add-on; the kit only uses it")
    section.finish()
    return queue


def _chart_values_need_install(section: Section, values: Mapping[str, Any], installs: bool, when: str) -> None:
    if values and not installs:
        raise section.error("chartValues", values, f"applies only when the kit installs the chart ({when})")


def _logs_volume(section: Section) -> LogsVolume:
    volume = LogsVolume(
        storage_class=section.string("storageClass", None, pattern=STORAGE_CLASS_NAME,
                                     pattern_help="must be a StorageClass name"),
        size=section.quantity("size", LogsVolume.size, resource="storage"),
        access_mode=section.choice("accessMode", ACCESS_MODES, LogsVolume.access_mode))
    if parse_quantity(volume.size) <= 0:
        raise section.error("size", volume.size, "must be greater than zero")
    section.finish()
    return volume


def _images(section: Section) -> Images:
    reference = dict(pattern=IMAGE_REFERENCE, pattern_help="must be an image reference like registry/path:tag")
    images = Images(pull_policy=section.choice("pullPolicy", PULL_POLICIES, None),
                    postgres=section.string("postgres", None, **reference),
                    redis=section.string("redis", None, **reference))
    section.finish()
    return images


def _check_team_namespaces(settings: Settings) -> None:
    for team in settings.teams.leaves():
        name = settings.task_namespace(team.name)
        if len(name) > DNS_LABEL_MAX:
            raise ConfigError(settings.stack, f"teams[{team.name}].name", team.name,
                              f"its namespace '{name}' (namespace-team) is {len(name)} characters, at most "
                              f"{DNS_LABEL_MAX}: shorten the team or the namespace")
    for team in settings.teams.leaves():
        if team.metadata_access:
            raise ConfigError(settings.stack, f"teams[{team.name}].metadataAccess", True,
                              "cannot be combined with teamNamespaces: the metadata database Secrets stay in the "
                              f"stack's namespace ({settings.namespace}) and are not copied to team namespaces")
    if settings.airflow.logs_volume is not None:
        raise ConfigError(settings.stack, "airflow.logsVolume", "set",
                          "a claim lives in one namespace and task pods run in their teams' namespaces "
                          "(teamNamespaces): drop logsVolume (task logs are then read from the pod while it "
                          "lives) or set teamNamespaces: false")


def _local_disk(section: Section, scheduler: SchedulerSettings) -> LocalDisk:
    local_disk = LocalDisk(
        storage_class=section.string("storageClass", pattern=STORAGE_CLASS_NAME,
                                     pattern_help="must be a StorageClass name"),
        mount_path=section.string("mountPath", LocalDisk.mount_path, pattern=re.compile(r"^/[^\s]*$"),
                                  pattern_help="must be an absolute path"),
        max_size=section.quantity("maxSize", LocalDisk.max_size, resource="storage"),
        create_storage_class=section.boolean("createStorageClass", LocalDisk.create_storage_class),
    )
    if local_disk.create_storage_class and scheduler.backend != "ack":
        raise section.error("createStorageClass", True, "applies to scheduler.backend ack (the CSI local "
                            "plugin's LVM class); elsewhere name a StorageClass the cluster has")
    if parse_quantity(local_disk.max_size) <= 0:
        raise section.error("maxSize", local_disk.max_size, "must be greater than zero")
    section.finish()
    return local_disk


def _pools(root: Section, teams: TeamTree) -> tuple[Pool, ...]:
    pools = []
    names = {team.pool for team in teams.leaves()}
    for index, item in enumerate(root.listing("pools")):
        section = Section(root.stack, f"pools[{index}]", item)
        pool = Pool(name=section.string("name", pattern=re.compile(r"^[A-Za-z0-9_.-]+$"),
                                        pattern_help="letters, digits, '_', '.', '-'"),
                    slots=section.integer("slots", minimum=-1),
                    description=section.string("description", Pool.description))
        section.finish()
        if pool.name in names:
            raise section.error("name", pool.name, "is already a pool (team pools are team-<name>)")
        names.add(pool.name)
        pools.append(pool)
    return tuple(pools)


def _sized_concurrency(stack: str, airflow: AirflowSettings, keda: Keda, scheduler: SchedulerSettings,
                       teams: TeamTree) -> AirflowSettings:
    """Airflow's limits sized to the team tree, or refused when a given value cannot fit it.

    KubernetesExecutor tasks whose pods wait for their quota count against `[core] parallelism`
    for every executor: parallelism must hold every team pool's slots AND the Celery workers'
    capacity (unset, it is exactly that, and at least Airflow's 32). On the default backend a
    pod beyond the namespace ResourceQuota is refused at creation and its task fails: the team
    pools must not admit more than the quota holds.
    """
    concurrency = airflow.concurrency
    kubernetes = "KubernetesExecutor" in airflow.executors
    leaves = teams.leaves()
    parts = []
    team_slots = sum(team.pool_slots for team in leaves) if kubernetes else 0
    if kubernetes:
        largest = sorted(leaves, key=lambda team: -team.pool_slots)
        shown = ", ".join(f"{team.name} {team.pool_slots}" for team in largest[:5])
        shown += f", ... {len(leaves) - 5} more" if len(leaves) > 5 else ""
        parts.append(f"team pool slots {team_slots} ({shown})")
    celery = 0
    if "CeleryExecutor" in airflow.executors:
        workers = keda.max_replicas if keda.enabled else airflow.celery_worker_replicas
        celery = concurrency.worker_concurrency * workers
        parts.append(f"Celery capacity {celery} (workerConcurrency {concurrency.worker_concurrency} x "
                     f"{workers} worker{'s' if workers != 1 else ''}{' at KEDA maxReplicas' if keda.enabled else ''})")
    needed = team_slots + celery
    if not concurrency.parallelism:
        concurrency = replace(concurrency, parallelism=max(AIRFLOW_DEFAULT_PARALLELISM, needed))
        if concurrency.max_active_tasks_per_dag > concurrency.parallelism:
            raise ConfigError(stack, "airflow.concurrency.maxActiveTasksPerDag", concurrency.max_active_tasks_per_dag,
                              f"must not exceed parallelism ({concurrency.parallelism}, sized from the teams)")
    elif kubernetes and concurrency.parallelism < needed:
        raise ConfigError(stack, "airflow.concurrency.parallelism", concurrency.parallelism,
                          f"must be at least {needed} = {' + '.join(parts)}: KubernetesExecutor tasks waiting "
                          "for their quota hold parallelism slots, so a smaller value lets a full quota "
                          "stop every other task; raise parallelism or lower poolSlots/workers")
    if kubernetes and scheduler.backend == "default":
        _check_pools_fit_quota(stack, teams)
    return replace(airflow, concurrency=concurrency)


def _check_pools_fit_quota(stack: str, teams: TeamTree) -> None:
    for top in teams.children(None):
        leaves = teams.leaves_under(top.name)
        for resource, ceiling in top.max.items():
            if resource not in ("cpu", "memory"):
                continue
            need = {team.name: team.pool_slots * parse_quantity(getattr(team.task_resources, resource))
                    for team in leaves}
            if sum(need.values()) > parse_quantity(ceiling):
                biggest = max(leaves, key=lambda team: need[team.name])
                total = format_quantity(resource, sum(need.values()))
                raise ConfigError(
                    stack, f"teams[{biggest.name}].poolSlots", biggest.pool_slots,
                    f"team pools under '{top.name}' admit tasks requesting {total} {resource} in all "
                    f"(poolSlots x taskResources.{resource}), more than its max.{resource} {ceiling}: on the "
                    "default scheduler the namespace ResourceQuota refuses the extra pods and their tasks "
                    "fail; lower poolSlots or taskResources, or raise max")
