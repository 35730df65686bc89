"""QueueLayer: creates what a `QueuePlan` lists (thin: the decisions are in plans.py)."""

from __future__ import annotations

from typing import Optional

import pulumi

from airflow_kit_platform.k8s_objects import create_chart
from airflow_kit_platform.queueing.plans import QueuePlan
from airflow_kit_platform.settings import Settings


class QueueLayer(pulumi.ComponentResource):
    """koord-queue's chart, when the kit installs it (its Queues are created by koord-queue itself,
    one per ElasticQuota; the plan puts the queue policy on the quotas as labels)."""

    def __init__(self, name: str, settings: Settings, plan: QueuePlan,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("airflow-kit:queueing:QueueLayer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.plan = plan
        self.charts = [create_chart(spec, opts=child) for spec in plan.charts]
        self.register_outputs({
            "backend": plan.backend,
            "charts": [spec.release for spec in plan.charts],
            "queuedTeams": sorted(plan.job_marks),
        })
