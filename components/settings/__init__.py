"""Typed stack settings: one loader turns the stack's config into frozen dataclasses.

`load_settings` is pure: it takes the stack name and the project's config keys (already
JSON-decoded, as `pulumi.Config` holds them) and either returns `Settings` or raises
`ConfigError` naming the stack, the key, the bad value and what is allowed. Secrets never
pass through here: only whether they were given (`secret_keys`); `__main__` reads them as
Pulumi secrets.

One module per block of a stack file (airflow, database, keda, scheduler, queue, workloads:
localDisk, images, pools), each with its dataclasses and its reader; common.py what they share;
sizing.py the rules that size Airflow's limits to the team tree; stack.py the whole.
"""

from airflow_kit_platform.settings.airflow import AirflowSettings, Concurrency, GitSync, LogsVolume
from airflow_kit_platform.settings.common import DEFAULT_NAMESPACE, SECRET_KEYS, TOP_LEVEL_KEYS
from airflow_kit_platform.settings.database import Database
from airflow_kit_platform.settings.keda import Keda
from airflow_kit_platform.settings.queue import QueueSettings
from airflow_kit_platform.settings.scheduler import LoadAware, Overcommit, QuotaTree, SchedulerSettings
from airflow_kit_platform.settings.stack import PREEMPTIBLE_TASK_RETRIES, Settings, load_settings
from airflow_kit_platform.settings.workloads import Images, LocalDisk, Pool

__all__ = ["AirflowSettings", "Concurrency", "DEFAULT_NAMESPACE", "Database", "GitSync", "Images", "Keda",
           "LoadAware", "LocalDisk", "LogsVolume", "Overcommit", "PREEMPTIBLE_TASK_RETRIES", "Pool", "QueueSettings",
           "QuotaTree", "SECRET_KEYS", "SchedulerSettings", "Settings", "TOP_LEVEL_KEYS", "load_settings"]
