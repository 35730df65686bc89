"""The one team model every scheduler backend renders: a tree of teams with shares.

A team has a guaranteed share (`min`), a ceiling (`max`), a weight for dividing idle
capacity, a default priority and whether its tasks may run as overcommitted batch work.
Teams with children are grouping nodes only (Koordinator parent quotas and Volcano parent
queues cannot hold pods), so pod templates exist for leaf teams.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Mapping, Optional

from airflow_kit.names import team_pool
from airflow_kit_platform.config_reader import DNS_LABEL, ConfigError, Section, did_you_mean
from airflow_kit_platform.quantities import format_quantity, parse_quantity

# Priority tiers, named after Koordinator's classes; other backends map them to
# PriorityClasses of their own with the same values.
PRIORITY_VALUES = {"prod": 9000, "mid": 7000, "batch": 5000, "free": 3000}
RESOURCE_NAMES = ("cpu", "memory", "nvidia.com/gpu", "ephemeral-storage")


@dataclass(frozen=True)
class TaskResources:
    """Default requests and limits of one task pod of a team."""

    cpu: str = "500m"
    memory: str = "1Gi"
    cpu_limit: Optional[str] = None  # None: same as the request
    memory_limit: Optional[str] = None

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu, "memory": self.memory},
            "limits": {"cpu": self.cpu_limit or self.cpu, "memory": self.memory_limit or self.memory},
        }


@dataclass(frozen=True)
class Egress:
    """Where a team's task pods may connect beyond DNS and the Execution API: an address block,
    and TCP ports (none: every port)."""

    cidr: str
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Team:
    name: str
    parent: Optional[str]
    min: Mapping[str, str]
    max: Mapping[str, str]
    weight: int = 1
    priority: str = "mid"
    overcommit: bool = False
    # The fused worker image. None: with a business_image, its suggested tag
    # (`<business repo>:<tag>-airflow-<airflow.version>`), so an Airflow pin moves it too; else the
    # stack's Airflow image.
    image: Optional[str] = None
    business_image: Optional[str] = None  # base of the fused image build context
    task_resources: TaskResources = field(default_factory=TaskResources)
    pool_slots: int = 16  # the stack's poolSlots, else TeamTree.with_default_pool_slots()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple = ()
    retries: Optional[int] = None  # None: Settings.task_retries decides by preemptibility
    # The metadata DB connection and the Fernet key in the team's task pods. Airflow 3 tasks
    # read connections and variables through the Execution API and need neither; any code in
    # the pod could read and decrypt every team's secrets with them. For operators that still
    # open the database themselves.
    metadata_access: bool = False
    egress: tuple[Egress, ...] = ()  # with `networkPolicies`: what else its task pods may reach

    @property
    def pool(self) -> str:
        return team_pool(self.name)  # the helper puts a team's tasks in the same pool


@dataclass(frozen=True)
class TeamTree:
    teams: tuple[Team, ...]

    def __iter__(self):
        return iter(self.teams)

    def __len__(self) -> int:
        return len(self.teams)

    def get(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(name)

    def names(self) -> list[str]:
        return [team.name for team in self.teams]

    def children(self, name: Optional[str]) -> list[Team]:
        return [team for team in self.teams if team.parent == name]

    def is_parent(self, name: str) -> bool:
        return any(team.parent == name for team in self.teams)

    def leaves(self) -> list[Team]:
        return [team for team in self.teams if not self.is_parent(team.name)]

    def leaves_under(self, name: str) -> list[Team]:
        """The leaf teams of `name`'s subtree (the team itself when it is a leaf)."""
        found = []
        for team in self.leaves():
            current: Optional[str] = team.name
            while current is not None and current != name:
                current = self.get(current).parent
            if current == name:
                found.append(team)
        return found

    def with_default_pool_slots(self, by_min: bool) -> "TeamTree":
        """Teams without poolSlots get as many as their max (or min) holds at their task request.

        `by_min` where one namespace quota stands for the whole tree (the default scheduler):
        siblings' mins always fit their parent, siblings' maxes need not.
        """
        return TeamTree(tuple(
            team if team.pool_slots else replace(
                team, pool_slots=default_pool_slots(team.min if by_min else team.max, team.task_resources))
            for team in self.teams))

    def depth_first(self) -> list[Team]:
        """Parents before children: the order objects must be created in."""
        ordered: list[Team] = []

        def visit(parent: Optional[str]) -> None:
            for child in self.children(parent):
                ordered.append(child)
                visit(child.name)

        visit(None)
        return ordered


def default_pool_slots(share: Mapping[str, str], task: TaskResources) -> int:
    """As many tasks as `share` holds at the team's default task request (at least one)."""
    fits = [int(parse_quantity(share[resource]) // parse_quantity(request))
            for resource, request in (("cpu", task.cpu), ("memory", task.memory)) if resource in share]
    return max(1, min(fits)) if fits else 1


def _resources(section: Section, name: str) -> dict[str, str]:
    block = section.section(name)
    values = {}
    for resource in RESOURCE_NAMES:
        if block.has(resource) or resource in ("cpu", "memory"):
            values[resource] = block.quantity(resource)
    block.finish()
    return values


def _read_team(stack: str, index: int, raw: Any) -> Team:
    section = Section(stack, f"teams[{index}]", raw)
    name = section.string("name", pattern=DNS_LABEL,
                          pattern_help="must be a DNS label: lower-case letters, digits and '-'")
    if len(name) > 50:
        raise section.error("name", name, "must be at most 50 characters (it prefixes object names)")
    section.path = f"teams[{name}]"  # name the team, not its index, from here on
    parent = section.string("parent", None)
    task = section.section("taskResources")
    task_resources = TaskResources(
        cpu=task.quantity("cpu", TaskResources.cpu),
        memory=task.quantity("memory", TaskResources.memory),
        cpu_limit=task.quantity("cpuLimit", None, resource="cpu"),
        memory_limit=task.quantity("memoryLimit", None, resource="memory"),
    )
    task.finish()
    for request, limit, key in (
        (task_resources.cpu, task_resources.cpu_limit, "cpuLimit"),
        (task_resources.memory, task_resources.memory_limit, "memoryLimit"),
    ):
        if limit is not None and parse_quantity(limit) < parse_quantity(request):
            raise task.error(key, limit, f"must be at least the request {request}")
    tolerations = section.listing("tolerations")
    if not all(isinstance(item, Mapping) for item in tolerations):
        raise section.error("tolerations", tolerations, "must be a list of Kubernetes tolerations")
    team = Team(
        name=name,
        parent=parent,
        min=_resources(section, "min"),
        max=_resources(section, "max"),
        weight=section.integer("weight", Team.weight, minimum=1, maximum=1000),
        priority=section.choice("priority", list(PRIORITY_VALUES), Team.priority),
        overcommit=section.boolean("overcommit", Team.overcommit),
        image=section.string("image", None),
        business_image=section.string("businessImage", None),
        task_resources=task_resources,
        pool_slots=section.integer("poolSlots", 0, minimum=1),  # 0: not given
        node_selector=section.string_map("nodeSelector"),
        tolerations=tuple(dict(item) for item in tolerations),
        retries=section.integer("taskRetries", None, minimum=0, maximum=100),
        metadata_access=section.boolean("metadataAccess", Team.metadata_access),
        egress=tuple(_read_egress(section, index, item) for index, item in enumerate(section.listing("egress"))),
    )
    section.finish()
    return team


def _read_egress(team: Section, index: int, raw: Any) -> Egress:
    section = Section(team.stack, f"{team.path}.egress[{index}]", raw)
    cidr = section.string("cidr")
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise section.error("cidr", cidr, "must be an address block such as 10.20.0.0/16 or 192.0.2.7/32") from None
    ports = section.listing("ports")
    if not all(isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535 for port in ports):
        raise section.error("ports", ports, "must be a list of TCP port numbers from 1 to 65535")
    section.finish()
    return Egress(cidr=str(network), ports=tuple(ports))


def read_teams(stack: str, raw: Any) -> TeamTree:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not raw:
        raise ConfigError(stack, "teams", raw, "must be a non-empty list of teams (name, min, max, ...)")
    teams = [_read_team(stack, index, item) for index, item in enumerate(raw)]
    tree = TeamTree(tuple(teams))
    validate_tree(stack, tree)
    return tree


def validate_tree(stack: str, tree: TeamTree) -> None:
    """Structural and quantity checks; each error names the team at fault."""
    seen: set[str] = set()
    for team in tree:
        if team.name in seen:
            raise ConfigError(stack, f"teams[{team.name}].name", team.name, "team names must be unique")
        seen.add(team.name)
    for team in tree:
        if team.parent is not None and team.parent not in seen:
            raise ConfigError(stack, f"teams[{team.name}].parent", team.parent,
                              f"must name another team{did_you_mean(team.parent, seen)}; "
                              f"teams: {', '.join(sorted(seen))}")
    for team in tree:
        chain, current = [team.name], team.parent
        while current is not None:
            if current in chain:
                cycle = " -> ".join(chain + [current])
                raise ConfigError(stack, f"teams[{team.name}].parent", team.parent,
                                  f"parents form a cycle: {cycle}")
            chain.append(current)
            current = tree.get(current).parent
    for team in tree:
        for resource, ceiling in team.max.items():
            floor = team.min.get(resource)
            if floor is not None and parse_quantity(floor) > parse_quantity(ceiling):
                raise ConfigError(stack, f"teams[{team.name}].min.{resource}", floor,
                                  f"must not exceed the team's max.{resource} {ceiling}")
        for resource in team.min:
            if resource not in team.max:
                raise ConfigError(stack, f"teams[{team.name}].max.{resource}", None,
                                  f"is required because min.{resource} is set")
        if team.parent is None:
            continue
        parent = tree.get(team.parent)
        for resource, floor in team.min.items():
            ceiling = parent.max.get(resource)
            if ceiling is not None and parse_quantity(floor) > parse_quantity(ceiling):
                raise ConfigError(stack, f"teams[{team.name}].min.{resource}", floor,
                                  f"must not exceed its parent '{parent.name}' max.{resource} {ceiling}")
    for parent in tree:
        children = tree.children(parent.name)
        if not children:
            continue
        for resource, parent_min in parent.min.items():
            total = sum((parse_quantity(child.min.get(resource, "0")) for child in children), Decimal(0))
            if total > parse_quantity(parent_min):
                names = ", ".join(child.name for child in children)
                raise ConfigError(stack, f"teams[{parent.name}].min.{resource}", parent_min,
                                  f"must be at least the sum of its children's min.{resource} "
                                  f"({format_quantity(resource, total)} from {names})")

