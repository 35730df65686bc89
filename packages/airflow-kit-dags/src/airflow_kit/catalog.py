"""Read the team catalog (``teams.json``) that the kit renders beside the pod templates.

The kit mounts one ConfigMap into every Airflow component at ``/opt/airflow/kit-pod-templates/``
(override with env ``AIRFLOW_KIT_POD_TEMPLATES_DIR``). It holds:

* ``<team>.yaml``            full Pod template of the team (container ``base``, fused image, resources,
                             schedulerName, labels/annotations/priorityClassName of the stack's scheduler)
* ``<team>-local-disk.yaml`` the same plus a generic ephemeral volume ``local-disk`` (only teams whose
                             stack has a local-disk StorageClass)
* ``teams.json``             this catalog

Everything here runs at DAG parse time, so errors are raised early, as ``ValueError`` subclasses
naming the team and what is allowed. One exception: where ``teams.json`` is not mounted at all (a
laptop, a DAG CI), ``load_catalog`` returns a placeholder catalog (``Catalog.missing`` set) so DAG
files still import; what is built from it checks ``Catalog.require`` when the task runs and fails
there with one ``CatalogError`` naming the file and the variable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from airflow_kit.quantity import kubernetes_amount
from airflow_kit.names import (
    BATCH_CPU,
    BATCH_MEMORY,
    CATALOG_FILE,
    LOCAL_DISK_VOLUME,
    POD_TEMPLATES_DIR,
    POD_TEMPLATES_DIR_ENV,
    QUEUE_BACKENDS,
    pod_template_file,
    team_pool,
)

DEFAULT_POD_TEMPLATES_DIR = POD_TEMPLATES_DIR
QUEUES = QUEUE_BACKENDS
# The stand-in default team of a placeholder catalog (teams.json not found): DAGs that make one
# task per team, or run as the default team, get one task named after it, which fails when run.
MISSING_CATALOG_TEAM = "no-catalog"

__all__ = [  # names other modules and DAGs import from here (some are re-exported shared names)
    "BATCH_CPU", "BATCH_MEMORY", "CATALOG_FILE", "DEFAULT_POD_TEMPLATES_DIR", "LOCAL_DISK_VOLUME",
    "POD_TEMPLATES_DIR_ENV", "QUEUES", "AirflowKitError", "Catalog", "CatalogError", "InvalidQuantityError",
    "LocalDisk", "LocalDiskNotAvailableError", "Team", "UnknownTeamError", "as_batch_resources", "load_catalog",
    "parse_quantity", "pod_templates_dir", "require_local_disk", "resolve_local_disk_size", "resolve_resources",
]


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
# The grammar is Kubernetes' own, as the `kubernetes` client parses it (kubernetes.utils.parse_quantity,
# the same function the kit's Pulumi side uses): a number (`2`, `0.5`, `.5`, `1e3`) and at most one
# suffix, binary SI (Ki Mi Gi Ti Pi Ei) or decimal SI (n u m k M G T P E). The client reads the number
# with Python's Decimal, which also takes what Kubernetes refuses: `1_000`, `NaN`, `Infinity`, inner
# blanks and non-ASCII digits are refused here first. On top, the helper's own rules: a task asks for
# something (> 0); cpu takes no binary suffix; memory and disks are whole bytes (`8m` is 0.008 bytes,
# surely `8Mi`).
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL_SUFFIXES = ("n", "u", "m", "k", "M", "G", "T", "P", "E")
_SUB_UNITS = ("n", "u", "m")


def _suffix(text: str) -> str:
    """The SI suffix of a quantity as the client splits it ("" for none or an exponent)."""
    if text[-2:] in _BINARY_SUFFIXES:
        return text[-2:]
    if text[-1:] in _DECIMAL_SUFFIXES:
        return text[-1:]
    return ""


def parse_quantity(value: Any, *, what: str, team: str | None = None, kind: str = "memory") -> tuple[str, Decimal]:
    """Validate a Kubernetes quantity and return ``(the text as given, numeric value)``.

    ``kind`` is ``"cpu"`` (allows ``500m``; rejects binary suffixes) or ``"memory"``/``"storage"``
    (whole bytes: rejects ``n``/``u``/``m`` and fractions of a byte).
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
    invalid = InvalidQuantityError(
        f"{what}{where}: {value!r} is not a valid positive Kubernetes quantity (examples: {example})")
    try:
        amount = kubernetes_amount(text)
    except ValueError:
        raise invalid from None
    suffix = _suffix(text)
    if kind == "cpu" and suffix in _BINARY_SUFFIXES:
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} uses a binary suffix, which makes no sense for cpu (examples: {example})"
        )
    if kind != "cpu" and suffix in _SUB_UNITS:
        hint = f"did you mean {text[:-1]}Mi? " if suffix == "m" else ""
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} means {suffix}-bytes (a fraction of a byte); {hint}(examples: {example})"
        )
    if amount <= 0:
        raise InvalidQuantityError(f"{what}{where}: {value!r} must be greater than zero (examples: {example})")
    if kind != "cpu" and amount != amount.to_integral_value():
        raise InvalidQuantityError(
            f"{what}{where}: {value!r} is {amount} bytes, not a whole number of bytes (examples: {example})")
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
    image: str | None  # None only on a placeholder catalog's stand-in teams
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
    # Set on a placeholder catalog (teams.json not found): the CatalogError message tasks fail with.
    missing: str | None = None

    def require(self, context: Any = None) -> None:
        """Raise ``CatalogError`` when teams.json was not found; nothing otherwise.

        It takes (and ignores) a task context, so it serves as an operator's ``pre_execute``: the
        helpers attach it to every task they build, and a task built from a placeholder catalog
        fails when it runs, with the one message naming the file and the variable."""
        if self.missing is not None:
            raise CatalogError(self.missing)

    def team(self, name: str) -> Team:
        if self.missing is not None and isinstance(name, str) and name:
            # Nothing to check a name against: a stand-in (its tasks fail at run, see require).
            return self.teams.get(name) or _stand_in_team(name, os.path.dirname(self.path))
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


def _stand_in_team(name: str, directory: str) -> Team:
    """A team of a placeholder catalog: the kit's naming rules, and nothing the catalog would say."""
    return Team(
        name=name,
        image=None,
        pod_template=os.path.join(directory, pod_template_file(name)),
        local_disk_pod_template=None,
        local_disk=None,
        default_resources={"requests": {}, "limits": {}},
        scheduler_name=None,
        pool=team_pool(name),
    )


def _placeholder_catalog(directory: str, path: str, reason: str) -> Catalog:
    message = (
        f"team catalog {path} not found ({reason}): the kit mounts it at {DEFAULT_POD_TEMPLATES_DIR} in every "
        f"Airflow component and task pod; elsewhere point env {POD_TEMPLATES_DIR_ENV} at a directory holding "
        f"the stack's teams.json and pod templates. Tasks built from the team catalog cannot run without it."
    )
    team = _stand_in_team(MISSING_CATALOG_TEAM, directory)
    return Catalog(path=path, stack="", scheduler="default", queue="none", namespace="airflow",
                   teams={team.name: team}, default_team=team.name, missing=message)


_CACHE: dict[tuple[str, int, int], Catalog] = {}


def load_catalog(directory: str | None = None) -> Catalog:
    """Load ``teams.json`` from ``directory`` (default: env AIRFLOW_KIT_POD_TEMPLATES_DIR, else
    /opt/airflow/kit-pod-templates). Cached by path, mtime and size, so a DAG file calling the helpers
    for many tasks reads it once, and a ConfigMap update is picked up at the next parse.

    Where there is no teams.json, a placeholder catalog (``missing`` set; ``require()`` raises): the
    DAG file still imports, with one stand-in default team ``no-catalog``, and any team name is
    accepted. A teams.json that is there but malformed raises ``CatalogError`` here."""
    directory = directory or pod_templates_dir()
    path = os.path.join(directory, CATALOG_FILE)
    try:
        st = os.stat(path)
    except OSError as e:
        return _placeholder_catalog(directory, path, e.strerror or type(e).__name__)
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
