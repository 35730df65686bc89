"""Stack configs for the scheduling tests, built through the real loader (load_settings).

Shared by tests/unit/scheduling and tests/contract (imported as
`tests.unit.scheduling.scheduling_stacks`). Everything returns fresh objects.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from airflow_kit_platform.settings import Settings, load_settings

STACK = "test"
NAMESPACE = "airflow"
REGISTRY = "registry.example.com/koordinator-mirror"
PROMETHEUS = "http://prometheus-server.monitoring.svc:9090"


def team(name: str, parent: Optional[str], cpu: tuple[str, str], memory: tuple[str, str], **extra: Any) -> dict:
    """A team entry as a stack file writes it: cpu/memory as (min, max)."""
    entry: dict[str, Any] = {"name": name, "min": {"cpu": cpu[0], "memory": memory[0]},
                             "max": {"cpu": cpu[1], "memory": memory[1]}}
    if parent is not None:
        entry["parent"] = parent
    entry.update(extra)
    return entry


def three_level_teams() -> list[dict]:
    """platform > {data > {etl, analytics}, ml > {training, serving}}, plus research at the top.

    etl and training are overcommit teams (batch and free tiers); leaves use every tier.
    """
    return [
        team("platform", None, ("40", "64"), ("160Gi", "256Gi"), weight=1, priority="prod"),
        team("data", "platform", ("24", "48"), ("96Gi", "192Gi"), weight=3),
        team("etl", "data", ("8", "24"), ("32Gi", "96Gi"), weight=2, priority="batch", overcommit=True,
             taskResources={"cpu": "1", "memory": "2Gi"}),
        team("analytics", "data", ("8", "16"), ("32Gi", "64Gi"), weight=1, priority="mid"),
        team("ml", "platform", ("16", "32"), ("64Gi", "128Gi"), weight=1),
        team("training", "ml", ("8", "32"), ("32Gi", "128Gi"), weight=4, priority="free", overcommit=True),
        team("serving", "ml", ("4", "8"), ("16Gi", "32Gi"), weight=1, priority="prod"),
        team("research", None, ("8", "16"), ("32Gi", "64Gi"), weight=1, priority="mid"),
    ]


def flat_teams() -> list[dict]:
    return [
        team("bi", None, ("16", "48"), ("64Gi", "192Gi"), weight=2, priority="mid"),
        team("offline", None, ("16", "64"), ("64Gi", "256Gi"), weight=1, priority="batch", overcommit=True),
    ]


def generated_teams(tops: int = 2, mids: int = 4, leaves: int = 5) -> list[dict]:
    """A 3-level tree of tops*(1 + mids*(1 + leaves)) teams (2, 4, 5 -> 50)."""
    teams = []
    tiers = ("prod", "mid", "batch", "free")
    for t in range(tops):
        top = f"org{t}"
        teams.append(team(top, None, (str(mids * leaves), "640"), (f"{mids * leaves * 4}Gi", "2560Gi"), weight=1 + t))
        for m in range(mids):
            mid = f"{top}-dept{m}"
            teams.append(team(mid, top, (str(leaves), "160"), (f"{leaves * 4}Gi", "640Gi"), weight=1 + m))
            for leaf_index in range(leaves):
                teams.append(team(f"{mid}-team{leaf_index}", mid, ("1", "40"), ("4Gi", "160Gi"),
                                  weight=1 + leaf_index, priority=tiers[leaf_index % 4],
                                  overcommit=leaf_index % 2 == 1))
    return teams


SCHEDULERS: dict[str, dict] = {
    "koordinator": {
        "backend": "koordinator",
        "imageRegistry": REGISTRY,
        "loadAware": {"cpuThresholdPercent": 70, "memoryThresholdPercent": 85, "cpuEstimatedScalingPercent": 80,
                      "memoryEstimatedScalingPercent": 60, "metricExpirationSeconds": 240},
        "overcommit": {"enabled": True, "cpuReclaimThresholdPercent": 55, "memoryReclaimThresholdPercent": 62},
        "descheduleLowNodeLoad": True,
    },
    "koordinator-managed": {  # a Koordinator the cluster already runs (koord-scheduler included)
        "backend": "koordinator",
        "install": False,
        "overcommit": {"enabled": True},
    },
    "ack": {  # ACK Pro: its own scheduler, one ElasticQuotaTree, the managed add-ons
        "backend": "ack",
        "overcommit": {"enabled": True},
    },
    "volcano": {
        "backend": "volcano",
        "loadAware": {"cpuThresholdPercent": 70, "memoryThresholdPercent": 85, "prometheusAddress": PROMETHEUS},
        "overcommit": {"enabled": True},
    },
    "default": {"backend": "default"},
}
STYLES = tuple(SCHEDULERS)


def raw_stack(style: str, teams: Optional[list] = None, scheduler: Optional[dict] = None, **top: Any) -> dict:
    raw: dict[str, Any] = {
        "namespace": NAMESPACE,
        "scheduler": copy.deepcopy(scheduler if scheduler is not None else SCHEDULERS[style]),
        "teams": copy.deepcopy(teams if teams is not None else three_level_teams()),
    }
    raw.update(copy.deepcopy(top))
    return raw


def settings_for(style: str, teams: Optional[list] = None, scheduler: Optional[dict] = None,
                 **top: Any) -> Settings:
    return load_settings(STACK, raw_stack(style, teams, scheduler, **top))


def deep_set(document: dict, path: str, value: Any) -> dict:
    """A copy of document with `a.b.c` set (creating maps on the way)."""
    document = copy.deepcopy(document)
    node = document
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return document
