"""The `localDisk`, `images` and `pools` blocks: what task pods mount and pull, and the extra pools."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from airflow_kit_platform.config_reader import Section
from airflow_kit_platform.model.backends import refuse_foreign_key
from airflow_kit_platform.model.teams import TeamTree
from airflow_kit_platform.quantities import parse_quantity
from airflow_kit_platform.settings.common import IMAGE_REFERENCE, PULL_POLICIES, STORAGE_CLASS_NAME
from airflow_kit_platform.settings.scheduler import SchedulerSettings


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


def read_images(section: Section) -> Images:
    reference = dict(pattern=IMAGE_REFERENCE, pattern_help="must be an image reference like registry/path:tag")
    images = Images(pull_policy=section.choice("pullPolicy", PULL_POLICIES, None),
                    postgres=section.string("postgres", None, **reference),
                    redis=section.string("redis", None, **reference))
    section.finish()
    return images


def read_local_disk(section: Section, scheduler: SchedulerSettings) -> LocalDisk:
    local_disk = LocalDisk(
        storage_class=section.string("storageClass", pattern=STORAGE_CLASS_NAME,
                                     pattern_help="must be a StorageClass name"),
        mount_path=section.string("mountPath", LocalDisk.mount_path, pattern=re.compile(r"^/[^\s]*$"),
                                  pattern_help="must be an absolute path"),
        max_size=section.quantity("maxSize", LocalDisk.max_size, resource="storage"),
        create_storage_class=section.boolean("createStorageClass", LocalDisk.create_storage_class),
    )
    if local_disk.create_storage_class and (
            refused := refuse_foreign_key(scheduler.backend, "localDisk.createStorageClass")):
        raise section.error("createStorageClass", True, refused)
    if parse_quantity(local_disk.max_size) <= 0:
        raise section.error("maxSize", local_disk.max_size, "must be greater than zero")
    section.finish()
    return local_disk


def read_pools(root: Section, teams: TeamTree) -> tuple[Pool, ...]:
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
