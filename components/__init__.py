"""airflow-kit-platform: Airflow 3 on Kubernetes where a batch scheduler decides where and when
task pods run. Import it into a Pulumi program:

    from airflow_kit_platform import Platform, PlatformArgs, TeamArgs

    platform = Platform("airflow", PlatformArgs(teams=[TeamArgs(name="etl", min={"cpu": "4", "memory": "16Gi"},
                                                                max={"cpu": "8", "memory": "32Gi"})]))
    pulumi.export("apiServerUrl", platform.api_server_url)

The repository's stack files run the same component (`__main__.py` -> `program.run`).
"""

from airflow_kit_platform.args import (
    AirflowArgs,
    AirflowChartArgs,
    AirflowImageArgs,
    CeleryWorkerResourcesArgs,
    ConcurrencyArgs,
    DatabaseArgs,
    GitSyncArgs,
    ImagesArgs,
    KedaArgs,
    LoadAwareArgs,
    LocalDiskArgs,
    LogsVolumeArgs,
    OvercommitArgs,
    PlatformArgs,
    PoolArgs,
    QueueArgs,
    QuotaTreeArgs,
    SchedulerArgs,
    TaskResourcesArgs,
    TeamArgs,
)
from airflow_kit_platform.config_reader import ConfigError
from airflow_kit_platform.versions import AIRFLOW_CHART_VERSION, AIRFLOW_VERSION, TESTED_AIRFLOW_RELEASES


def __getattr__(name: str):
    # The component imports pulumi_kubernetes and every builder: loaded on first use.
    if name == "Platform":
        from airflow_kit_platform.platform import Platform

        return Platform
    raise AttributeError(f"module 'airflow_kit_platform' has no attribute {name!r}")


__all__ = ["AIRFLOW_CHART_VERSION", "AIRFLOW_VERSION", "AirflowArgs", "AirflowChartArgs", "AirflowImageArgs",
           "CeleryWorkerResourcesArgs", "ConcurrencyArgs", "ConfigError", "DatabaseArgs", "GitSyncArgs", "ImagesArgs",
           "KedaArgs", "LoadAwareArgs", "LocalDiskArgs", "LogsVolumeArgs", "OvercommitArgs", "Platform",
           "PlatformArgs", "PoolArgs", "QueueArgs", "QuotaTreeArgs", "SchedulerArgs", "TESTED_AIRFLOW_RELEASES",
           "TaskResourcesArgs", "TeamArgs"]
