"""Read the team catalog (``teams.json``) that the kit renders beside the pod templates.

The kit mounts one ConfigMap into every Airflow component at ``/opt/airflow/kit-pod-templates/``
(override with env ``AIRFLOW_KIT_POD_TEMPLATES_DIR``). It holds:

* ``<team>.yaml``            full Pod template of the team (container ``base``, fused image, resources,
                             schedulerName, labels/annotations/priorityClassName of the stack's scheduler)
* ``<team>-local-disk.yaml`` the same plus a generic ephemeral volume ``local-disk`` (only teams whose
                             stack has a local-disk StorageClass)
* ``teams.json``             this catalog

Everything here runs at DAG parse time, so every error is raised early, as a ``ValueError``
subclass naming the team and what is allowed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

DEFAULT_POD_TEMPLATES_DIR = "/opt/airflow/kit-pod-templates"
POD_TEMPLATES_DIR_ENV = "AIRFLOW_KIT_POD_TEMPLATES_DIR"
CATALOG_FILE = "teams.json"
LOCAL_DISK_VOLUME = "local-disk"
QUEUES = ("koord-queue", "ack", "none")
SCHEDULERS = ("koordinator", "volcano", "default")


class AirflowKitError(ValueError):
    """Base of every error the helpers raise at DAG parse time."""


class CatalogError(AirflowKitError):
    """teams.json is missing or malformed."""


class UnknownTeamError(AirflowKitError):
    """The team is not in teams.json."""


class InvalidQuantityError(AirflowKitError):
    """A cpu / memory / disk quantity is not a valid positive Kubernetes quantity."""


class LocalDiskNotAvailableError(AirflowKitError):
    """local_disk was asked for a team whose stack has no local-disk StorageClass."""


# --------------------------------------------------------------------------- quantities
# Kubernetes quantity grammar (k8s.io/apimachinery resource.Quantity), without a sign:
#   <digits>[.<digits>] followed by a binary SI, decimal SI or decimal exponent suffix.
_QUANTITY_RE = re.compile(
    r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(value: Any, *, what: str, team: str | None = None, kind: str = "memory") -> tuple[str, Decimal]:
    """Validate a Kubernetes quantity and return ``(canonical string, numeric value)``.

    ``kind`` is ``"cpu"`` (allows ``500m``; rejects binary suffixes) or ``"memory"``/``"storage"``
    (rejects the sub-unit suffixes ``n``/``u``/``m``: ``8m`` memory is 0.008 bytes, surely meant ``8Mi``).
    Zero and negative values are rejected: a task always asks for something.
    """
    where = f" for team {team!r}" if team else ""
    if isinstance(value, bool) or value is None:
        raise InvalidQuantityError(f"{what}{where}: expected a Kubernetes quantity, got {value!r}")
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidQuantityError(f"{what}{where}: expected a Kubernetes quantity, got {type(value).__name__}")
    example = "'2', '500m', '0.5'" if kind == "cpu" else "'512Mi', '8Gi', '100Gi'"
    m = _QUANTITY_RE.match(text)
    if not m:
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} is not a valid positive Kubernetes quantity (examples: {example})"
        )
    suffix = m.group("suffix") or ""
    if kind == "cpu" and suffix in _BINARY:
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} uses a binary suffix, which makes no sense for cpu (examples: {example})"
        )
    if kind != "cpu" and suffix in ("n", "u", "m"):
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} means {suffix}-bytes (a fraction of a byte); "
            f"did you mean {m.group('num')}{suffix.upper()}i? (examples: {example})"
        )
    try:
        num = Decimal(m.group("num"))
        if suffix in _BINARY:
            amount = num * _BINARY[suffix]
        elif suffix in _DECIMAL:
            amount = num * _DECIMAL[suffix]
        else:  # exponent
            amount = num * (Decimal(10) ** int(suffix[1:]))
    except (InvalidOperation, ValueError) as e:  # pragma: no cover - regex already guards
        raise InvalidQuantityError(f"{what}{where}: {value!r} is not a valid quantity ({e})") from None
    if amount <= 0:
        raise InvalidQuantityError(f"{what}{where}: {value!r} must be greater than zero (examples: {example})")
    return text, amount


# --------------------------------------------------------------------------- catalog
@dataclass(frozen=True)
class LocalDisk:
    mount_path: str
    storage_class: str
    max_size: str | None = None


@dataclass(frozen=True)
class Team:
    name: str
    image: str
    pod_template: str
    local_disk_pod_template: str | None
    local_disk: LocalDisk | None
    default_resources: Mapping[str, Mapping[str, str]]
    scheduler_name: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    priority_class_name: str | None = None
    pool: str | None = None
    task_retries: int | None = None  # set when the team's pods can be preempted
    namespace: str | None = None  # where the team's pods and Jobs run (None: the catalog's)
    # ACK's BE pods ask for kubernetes.io/batch-cpu (millicores) and batch-memory instead.
    batch_resources: bool = False


@dataclass(frozen=True)
class Catalog:
    path: str
    stack: str
    scheduler: str
    queue: str
    namespace: str
    teams: Mapping[str, Team]
    default_team: str  # the stack's defaultTeam (whose template is the chart's default)

    def team(self, name: str) -> Team:
        if not isinstance(name, str) or name not in self.teams:
            raise UnknownTeamError(
                f"unknown team {name!r}: teams in {self.path} (stack {self.stack!r}) are "
                f"{sorted(self.teams)}"
            )
        return self.teams[name]

    @property
    def teams_with_local_disk(self) -> list[str]:
        return sorted(n for n, t in self.teams.items() if t.local_disk is not None)


def pod_templates_dir() -> str:
    return os.environ.get(POD_TEMPLATES_DIR_ENV) or DEFAULT_POD_TEMPLATES_DIR


def _rebase(path: str | None, directory: str) -> str | None:
    """Templates live beside teams.json: keep the file name, use the directory we read from.

    teams.json names ``/opt/airflow/kit-pod-templates/<file>``; when the directory is overridden
    (``AIRFLOW_KIT_POD_TEMPLATES_DIR``, tests, a different mount) the same file names apply.
    """
    if not path:
        return None
    return os.path.join(directory, os.path.basename(path))


def _parse_team(name: str, raw: Mapping[str, Any], directory: str, path: str) -> Team:
    def req(key: str) -> Any:
        if key not in raw or raw[key] in (None, ""):
            raise CatalogError(f"{path}: team {name!r} lacks {key!r}")
        return raw[key]

    ld_raw = raw.get("local_disk")
    local_disk = None
    if ld_raw:
        local_disk = LocalDisk(
            mount_path=ld_raw["mount_path"],
            storage_class=ld_raw["storage_class"],
            max_size=ld_raw.get("max_size"),
        )
    resources = raw.get("default_resources") or {}
    return Team(
        name=name,
        image=req("image"),
        pod_template=_rebase(req("pod_template"), directory),
        local_disk_pod_template=_rebase(raw.get("local_disk_pod_template"), directory),
        local_disk=local_disk,
        default_resources={
            "requests": dict(resources.get("requests") or {}),
            "limits": dict(resources.get("limits") or {}),
        },
        scheduler_name=raw.get("scheduler_name"),
        labels=dict(raw.get("labels") or {}),
        annotations=dict(raw.get("annotations") or {}),
        priority_class_name=raw.get("priority_class_name"),
        pool=raw.get("pool"),
        task_retries=raw.get("task_retries"),
        namespace=raw.get("namespace"),
        batch_resources=bool(raw.get("batch_resources")),
    )


_CACHE: dict[tuple[str, int, int], Catalog] = {}


def load_catalog(directory: str | None = None) -> Catalog:
    """Load ``teams.json`` from ``directory`` (default: env AIRFLOW_KIT_POD_TEMPLATES_DIR, else
    /opt/airflow/kit-pod-templates). Cached by path, mtime and size, so a DAG file calling the helpers
    for many tasks reads it once, and a ConfigMap update is picked up at the next parse."""
    directory = directory or pod_templates_dir()
    path = os.path.join(directory, CATALOG_FILE)
    try:
        st = os.stat(path)
    except OSError as e:
        raise CatalogError(
            f"team catalog {path} not found ({e.strerror}); the kit mounts it at {DEFAULT_POD_TEMPLATES_DIR} "
            f"(override with env {POD_TEMPLATES_DIR_ENV})"
        ) from None
    key = (path, st.st_mtime_ns, st.st_size)
    if key in _CACHE:
        return _CACHE[key]
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except ValueError as e:
        raise CatalogError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("teams"), dict):
        raise CatalogError(f"{path}: expected an object with a 'teams' object")
    queue = raw.get("queue") or "none"
    if queue not in QUEUES:
        raise CatalogError(f"{path}: queue {queue!r} is not one of {list(QUEUES)}")
    catalog = Catalog(
        path=path,
        stack=raw.get("stack", ""),
        scheduler=raw.get("scheduler") or "default",
        queue=queue,
        namespace=raw.get("namespace") or "airflow",
        teams={n: _parse_team(n, t, directory, path) for n, t in raw["teams"].items()},
        default_team=raw.get("default_team") or min(raw["teams"]),
    )
    if catalog.default_team not in catalog.teams:
        raise CatalogError(f"{path}: default_team {catalog.default_team!r} is not one of {sorted(catalog.teams)}")
    _CACHE.clear()
    _CACHE[key] = catalog
    return catalog


def resolve_resources(
    team: Team,
    *,
    cpu: Any = None,
    memory: Any = None,
    cpu_limit: Any = None,
    memory_limit: Any = None,
) -> dict[str, dict[str, str]]:
    """Return the FULL resources block (requests and limits) for a task of ``team``.

    Airflow's pod reconciliation replaces ``resources`` whole, so an override must carry every
    request and limit. Rules, per resource (cpu, memory):

    * start from the team's ``default_resources`` (other keys, e.g. ``ephemeral-storage``, are kept);
    * a caller's request replaces the default request; if the caller gives no limit and the team
      default HAS a limit for that resource, the limit becomes the caller's request (asking for
      ``memory="8Gi"`` gives 8Gi/8Gi, never an 8Gi request over a 2Gi limit); a team without a
      default limit for a resource (e.g. no cpu limit) still gets none;
    * an explicit ``*_limit`` wins; the request must not exceed the limit.
    """
    requests = dict(team.default_resources.get("requests") or {})
    limits = dict(team.default_resources.get("limits") or {})
    for res, kind, req_value, lim_value in (
        ("cpu", "cpu", cpu, cpu_limit),
        ("memory", "memory", memory, memory_limit),
    ):
        if req_value is not None:
            text, _ = parse_quantity(req_value, what=res, team=team.name, kind=kind)
            requests[res] = text
            if lim_value is None and res in limits:
                limits[res] = text
        if lim_value is not None:
            text, _ = parse_quantity(lim_value, what=f"{res}_limit", team=team.name, kind=kind)
            limits[res] = text
        if res in requests and res in limits:
            _, r = parse_quantity(requests[res], what=res, team=team.name, kind=kind)
            _, lim = parse_quantity(limits[res], what=f"{res}_limit", team=team.name, kind=kind)
            if r > lim:
                raise InvalidQuantityError(
                    f"{res} for team {team.name!r}: request {requests[res]} is above limit {limits[res]}; "
                    f"pass {res}_limit= too (Kubernetes rejects a request above its limit)"
                )
    out: dict[str, dict[str, str]] = {"requests": requests}
    if limits:
        out["limits"] = limits
    if team.batch_resources:
        return as_batch_resources(out, team=team.name)
    return out


BATCH_CPU = "kubernetes.io/batch-cpu"
BATCH_MEMORY = "kubernetes.io/batch-memory"


def as_batch_resources(resources: Mapping[str, Mapping[str, str]], *, team: str) -> dict[str, dict[str, str]]:
    """cpu/memory as the batch resources a BE pod asks for on ACK: batch-cpu in whole
    millicores, batch-memory as given (a BE pod never mixes them with cpu/memory)."""
    out: dict[str, dict[str, str]] = {}
    for part, values in resources.items():
        converted: dict[str, str] = {}
        for resource, quantity in values.items():
            if resource == "cpu":
                _, cores = parse_quantity(quantity, what="cpu", team=team, kind="cpu")
                converted[BATCH_CPU] = str(int((cores * 1000).to_integral_value(rounding="ROUND_CEILING")))
            elif resource == "memory":
                converted[BATCH_MEMORY] = quantity
            else:
                converted[resource] = quantity
        out[part] = converted
    return out


def require_local_disk(team: Team, catalog: Catalog) -> LocalDisk:
    if team.local_disk is None:
        raise LocalDiskNotAvailableError(
            f"team {team.name!r} has no local disk in stack {catalog.stack!r}: local_disk is allowed for "
            f"{catalog.teams_with_local_disk or 'no team'}"
        )
    return team.local_disk


def resolve_local_disk_size(team: Team, catalog: Catalog, size: Any) -> str:
    """Validate a local-disk size for ``team`` and return it (raises for teams without local disk)."""
    require_local_disk(team, catalog)
    text, amount = parse_quantity(size, what="local_disk", team=team.name, kind="storage")
    if team.local_disk.max_size:
        _, max_amount = parse_quantity(team.local_disk.max_size, what="local_disk.max_size", team=team.name)
        if amount > max_amount:
            raise InvalidQuantityError(
                f"local_disk for team {team.name!r}: {text} is above the team's max_size "
                f"{team.local_disk.max_size}"
            )
    return text
