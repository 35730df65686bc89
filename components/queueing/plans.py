"""The job queue for Job tasks (koord-queue / ACK kube-queue), as plain data.

The design and why: docs/job-queues.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from airflow_kit_platform import versions
from airflow_kit_platform.model.names import cluster_name
from airflow_kit_platform.passthrough import merge_under
from airflow_kit_platform.scheduling.ack import JOB_QUOTA_LABEL as ACK_QUOTA_NAME_LABEL
from airflow_kit_platform.scheduling.backend import ChartSpec, PodMarks, SchedulingPlan
from airflow_kit_platform.settings import Settings

KOORD_QUEUE_RELEASE = "koord-queue"
KOORD_QUEUE_NAMESPACE = "koord-queue"  # hardcoded in the 1.8.0 chart's templates
QUOTA_NAME_LABEL = "quota.scheduling.koordinator.sh/name"
QUEUE_POLICY_LABEL = "koord-queue/queue-policy"
QUEUE_POLICIES = ("Priority", "Block", "Round", "Intelligent")  # what koord-queue accepts
DEFAULT_QUEUE_POLICY = "Priority"


@dataclass(frozen=True)
class QueuePlan:
    backend: str
    charts: tuple[ChartSpec, ...] = ()
    job_marks: Mapping[str, PodMarks] = field(default_factory=dict)  # per leaf team
    # Labels the team's ElasticQuota must carry (the scheduling layer owns the quota).
    quota_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def queued(self) -> bool:
        """True when Job tasks are created suspended and wait for the queue."""
        return self.backend != "none"


def koord_queue_chart(settings: Settings) -> ChartSpec:
    values: dict[str, Any] = {
        "controller": {"queueGroupPlugin": "elasticquotav2"},
        "extension": {"batchjob": {"enable": True}},
        # What the controller really reads (templates/config.yaml renders pluginConfigs):
        # priority ordering inside a queue, and one queue per Koordinator ElasticQuota.
        "pluginConfigs": {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "KoordQueueConfiguration",
            "plugins": [{"name": "Priority"}, {"name": "ElasticQuotaV2"}],
            "pluginConfigs": {},
        },
    }
    if settings.scheduler.image_registry:
        # Same registry (mirror) as Koordinator's images; the chart's default host differs
        # between its published revisions.
        values["global"] = {"imagePrefix": settings.scheduler.image_registry}
    return ChartSpec(
        release=KOORD_QUEUE_RELEASE,
        chart="koord-queue",
        repository=versions.KOORDINATOR_CHART_REPO,
        version=settings.queue.chart_version,
        namespace=KOORD_QUEUE_NAMESPACE,
        values=merge_under(values, settings.queue.chart_values, stack=settings.stack, key="queue.chartValues"),
    )


def job_marks_for(settings: Settings, team: str, marks: Optional[PodMarks]) -> PodMarks:
    """The team's pod marks plus the quota label the queue maps the Job by: koord-queue reads
    Koordinator's quota label, ACK's kube-queue the tree leaf's (`quota.scheduling.alibabacloud.com/name`)."""
    if marks is None:
        raise KeyError(f"the scheduling plan has no pod marks for team {team!r}")
    label = ACK_QUOTA_NAME_LABEL if settings.queue.backend == "ack" else QUOTA_NAME_LABEL
    labels = {**marks.labels, label: cluster_name(settings.namespace, team)}
    return replace(marks, labels=labels, annotations=dict(marks.annotations))


def queue_plan(settings: Settings, scheduling_plan: SchedulingPlan) -> QueuePlan:
    backend = settings.queue.backend
    if backend == "none":
        return QueuePlan(backend="none")
    leaves = [team.name for team in settings.teams.leaves()]
    job_marks = {team: job_marks_for(settings, team, scheduling_plan.pod_marks.get(team)) for team in leaves}
    charts: tuple[ChartSpec, ...] = ()
    quota_labels: dict[str, Mapping[str, str]] = {}
    if backend == "koord-queue":
        if settings.queue.install:
            charts = (koord_queue_chart(settings),)
        # Every ElasticQuota gets a Queue, parents included; only leaves receive Jobs, but a
        # uniform policy keeps the auto-created queues predictable.
        quota_labels = {team.name: {QUEUE_POLICY_LABEL: DEFAULT_QUEUE_POLICY}
                        for team in settings.teams}
    return QueuePlan(
        backend=backend,
        charts=charts,
        job_marks=job_marks,
        quota_labels=quota_labels,
    )
