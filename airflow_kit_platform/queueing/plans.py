"""The job queue for Job tasks (koord-queue / ACK kube-queue), as plain data.

Neither queue holds bare pods: they hold `batch/v1` Jobs created with `spec.suspend: true`
and unsuspend one when its team's quota has room (FACTS.md). So the queue only concerns
Job tasks (`QueuedKubernetesJobOperator`); KubernetesExecutor pods go straight to the
scheduler and its quota. `queue_plan` turns the settings and the scheduling plan into:

* `charts`: koord-queue's own chart (chart `koord-queue` from the Koordinator chart repo),
  only for `queue.backend: koord-queue` with `queue.install` (false: an existing install).
  The values pin the two switches the kit relies on even if the chart's defaults move:
  ElasticQuotaV2 mode (`controller.queueGroupPlugin: elasticquotav2`, and the plugin list
  in `pluginConfigs` that the 1.8.0 templates actually render into the controller's
  config) and the batch/v1 Job extension (`extension.batchjob.enable`). The chart hardcodes
  its namespace `koord-queue` in every template, so the release lives there.
* `job_marks`: per leaf team, what a Job (and its pods) must carry to join the team's queue:
  the team's pod marks from the scheduling plan plus the label
  `quota.scheduling.koordinator.sh/name: <namespace>-<team>` (the team's quota, which the
  Koordinator backend already puts on pods; it is added here so the queue never depends on that).
* `quota_labels`: per team, labels for the team's ElasticQuota (an object of the scheduling
  layer, which merges them): `koord-queue/queue-policy`.

Queue objects: the kit creates NONE. With ElasticQuotaV2, koord-queue creates one `Queue`
(scheduling.x-k8s.io/v1alpha1, namespace `koord-queue`) per ElasticQuota, with the quota's
name, and keeps it in step with the quota: its `spec.queuePolicy` comes from the quota's
label `koord-queue/queue-policy`, and the quota's `koord-queue/*` annotations are copied
onto it. A Queue of the same name created by the kit would either fail (already exists) or
be rewritten by the controller on every sync, and `pulumi up` would fight it forever. The
"one queue per team" of the issue is therefore met by the team tree itself (one quota per
team, hence one Queue per team), and the per-team queue settings travel as quota labels.
The Queue CRD would accept an explicit object (`spec.queuePolicy`, `priority`,
`priorityClassName` are all plain fields), so nothing in the schema forbids it; the
controller's ownership does.

Queue policy: `Priority` for every team (koord-queue's default, written down so it shows on
the quota): within a team's queue, Jobs are ordered by their pods' `priorityClassName`
(the team's tier), then by creation time, and a Job that does not fit does not block the
smaller ones behind it. `Block` (strict head-of-line) would let one big Job starve a team.

`ack`: ACK's managed kube-queue is already installed (no chart). In ACK's tree mode
(`queueGroupPlugin: elasticquota`, one ElasticQuotaTree in kube-system) a Job is mapped to a
quota by its namespace, not by label; the kit still puts the same marks on Jobs, which are
right for ACK clusters running the ElasticQuotaV2 flavour and harmless otherwise. The
quota-policy labels do not apply there (the tree is ACK's object), so none are planned.
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
