"""The whole stack: `Settings` and `load_settings`, which reads every block and checks what spans blocks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from airflow_kit_platform.config_reader import DNS_LABEL, ConfigError, Section, did_you_mean
from airflow_kit_platform.model.backends import BACKENDS
from airflow_kit_platform.model.names import cluster_name
from airflow_kit_platform.model.teams import Team, TeamTree, read_teams
from airflow_kit_platform.quantities import parse_quantity
from airflow_kit_platform.settings.airflow import AirflowSettings, read_airflow
from airflow_kit_platform.settings.common import DEFAULT_NAMESPACE, DNS_LABEL_MAX, SECRET_KEYS
from airflow_kit_platform.settings.database import Database, read_database
from airflow_kit_platform.settings.keda import Keda, read_keda
from airflow_kit_platform.settings.queue import QueueSettings, read_queue
from airflow_kit_platform.settings.scheduler import SchedulerSettings, read_scheduler
from airflow_kit_platform.settings.sizing import sized_concurrency
from airflow_kit_platform.settings.workloads import Images, LocalDisk, Pool, read_images, read_local_disk, read_pools

# Retries a task of a team whose pods can be preempted gets unless it says otherwise.
PREEMPTIBLE_TASK_RETRIES = 2


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
    # NetworkPolicies on team task pods: egress to DNS, the Execution API and the team's `egress` only.
    network_policies: bool = True

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
        if not BACKENDS[self.scheduler.backend].preempts:
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
    database = read_database(root.section("database"), secret_keys)
    airflow = read_airflow(root.section("airflow"))
    keda = read_keda(root.section("keda"), airflow)
    scheduler = read_scheduler(root.section("scheduler"))
    queue = read_queue(root.section("queue"), scheduler)
    required = BACKENDS[scheduler.backend].team_namespaces_required
    team_namespaces = root.boolean("teamNamespaces", bool(required))
    if required and not team_namespaces:
        raise root.error("teamNamespaces", False, f"must be true on scheduler.backend {scheduler.backend}: {required}")
    root.accept("teams")
    teams = read_teams(stack, raw.get("teams")).with_default_pool_slots(
        by_min=BACKENDS[scheduler.backend].quota_refuses_pods)
    leaves = [team.name for team in teams.leaves()]
    default_team = root.string("defaultTeam", leaves[0])
    if default_team not in leaves:
        raise root.error("defaultTeam", default_team,
                         f"must name a team without children{did_you_mean(default_team, leaves)}; "
                         f"teams that run tasks: {', '.join(leaves)}")
    local_disk = read_local_disk(root.section("localDisk"), scheduler) if root.has("localDisk") else None
    root.accept("localDisk")
    pools = read_pools(root, teams)
    images = read_images(root.section("images"))
    network_policies = root.boolean("networkPolicies", Settings.network_policies)
    if queue.backend != "none":
        airflow = replace(airflow, job_tasks=True)  # queued Job tasks need the chart's Job RBAC
    root.accept(*SECRET_KEYS)
    root.finish()
    airflow = sized_concurrency(stack, airflow, keda, scheduler, teams)
    settings = Settings(stack=stack, namespace=namespace, airflow=airflow, database=database, keda=keda,
                    scheduler=scheduler, queue=queue, teams=teams, default_team=default_team,
                    local_disk=local_disk, pools=pools, images=images, team_namespaces=team_namespaces,
                        network_policies=network_policies)
    if team_namespaces:
        _check_team_namespaces(settings)
    return settings


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
    if settings.airflow.logs_volume is not None and settings.airflow.logs_volume.source is None:
        raise ConfigError(settings.stack, "airflow.logsVolume.source", None,
                          "is required with teamNamespaces: a claim lives in one namespace and task pods run in "
                          "their teams' namespaces, so give the shared storage every namespace's claim binds to "
                          "(nfs, csi or hostPath), or drop logsVolume (task logs are then read from the pod while "
                          "it lives)")
