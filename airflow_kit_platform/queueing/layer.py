"""QueueLayer: creates what a `QueuePlan` lists (thin: the decisions are in plans.py)."""

from __future__ import annotations

from typing import Optional

import pulumi

from airflow_kit_platform.k8s_objects import create_chart, create_object
from airflow_kit_platform.queueing.plans import QueuePlan
from airflow_kit_platform.settings import Settings


class QueueLayer(pulumi.ComponentResource):
    """koord-queue's chart (when the kit installs it), then the plan's objects.

    Custom resources depend on the chart that brings their CRDs and are retained on delete:
    removing the stack or upgrading the chart must not drop queued work.
    """

    def __init__(self, name: str, settings: Settings, plan: QueuePlan,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:queueing:QueueLayer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.plan = plan
        self.charts = [create_chart(spec, opts=child) for spec in plan.charts]
        self.core_objects = [create_object(manifest, opts=child) for manifest in plan.core_objects]
        self.custom_resources = [
            create_object(manifest, opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(self.charts), retain_on_delete=True))
            for manifest in plan.custom_resources
        ]
        self.register_outputs({
            "backend": plan.backend,
            "charts": [spec.release for spec in plan.charts],
            "queuedTeams": sorted(plan.job_marks),
        })
