"""KEDA, which scales the Celery workers to zero: one install per cluster, or an existing one.

The Airflow chart only renders the ScaledObject (`workers.keda`); the operator and its
CRDs come from KEDA's own chart, installed here before Airflow when the stack asks.
"""

from __future__ import annotations

from typing import Optional

from airflow_kit_platform import versions
from airflow_kit_platform.passthrough import merge_under
from airflow_kit_platform.scheduling.backend import ChartSpec
from airflow_kit_platform.settings import Settings

KEDA_NAMESPACE = "keda"


def keda_chart(settings: Settings) -> Optional[ChartSpec]:
    if not (settings.keda.enabled and settings.keda.install):
        return None
    return ChartSpec(release="keda", chart="keda", repository=versions.KEDA_CHART_REPO,
                     version=versions.KEDA_CHART_VERSION, namespace=KEDA_NAMESPACE,
                     values=merge_under({"crds": {"install": True}}, settings.keda.chart_values,
                                        stack=settings.stack, key="keda.chartValues"))
