"""QueuedKubernetesJobOperator against a fake Kubernetes (hook + BatchV1/CoreV1 clients), fake clock."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

pytest.importorskip("airflow")
pytest.importorskip("airflow.providers.cncf.kubernetes")

from kubernetes.client import models as k8s  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook  # noqa: E402
from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator  # noqa: E402
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred  # noqa: E402

import airflow_kit.job as kit_job  # noqa: E402
from airflow_kit import (  # noqa: E402
    AirflowKitError,
    JobAdmissionError,
    JobAdmissionTimeout,
    QueuedKubernetesJobOperator,
    UnknownTeamError,
    kubernetes_job,
)


# ----------------------------------------------------------------------------- fakes
class FakeClock:
    def __init__(self):
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


class FakeCluster:
    """Holds one Job. The queue admits it after ``admit_after_polls`` reads of its status (None: never);
    the Job controller creates its pods ``pods_after_lists`` pod listings after admission."""

    def __init__(self, *, admit_after_polls: int | None = 0, pods_after_lists: int = 0, deleted_after_polls=None):
        self.admit_after_polls = admit_after_polls
        self.pods_after_lists = pods_after_lists
        self.deleted_after_polls = deleted_after_polls
        self.created: list[k8s.V1Job] = []
        self.status_polls = 0
        self.pod_lists = 0
        self.selectors: list[str] = []
        self.deleted: list[dict] = []
        self.admitted = False

    # --- hook surface used by the operator
    is_in_cluster = False

    def get_namespace(self):
        return None

    def list_namespaced_job(self, namespace: str, label_selector: str = "", **_):
        return k8s.V1JobList(items=[])  # no Job of this task instance yet

    def create_job(self, job: k8s.V1Job, **_):
        self.created.append(job)
        self.admitted = not job.spec.suspend
        return job

    def get_job_status(self, job_name: str, namespace: str) -> k8s.V1Job:
        self.status_polls += 1
        if self.deleted_after_polls is not None and self.status_polls > self.deleted_after_polls:
            raise ApiException(status=404, reason="Not Found")
        if self.admit_after_polls is not None and self.status_polls > self.admit_after_polls:
            self.admitted = True
        job = self.created[-1]
        return k8s.V1Job(metadata=job.metadata, spec=k8s.V1JobSpec(template=job.spec.template,
                                                                  suspend=not self.admitted))

    is_job_failed = staticmethod(KubernetesHook.is_job_failed)

    def wait_until_job_complete(self, job_name, namespace, job_poll_interval=10):
        job = self.created[-1]
        return k8s.V1Job(
            metadata=job.metadata,
            spec=job.spec,
            status=k8s.V1JobStatus(conditions=[k8s.V1JobCondition(type="Complete", status="True")]),
        )

    def get_pod(self, name, namespace):
        return self._pod()

    # --- CoreV1Api / BatchV1Api surface
    def list_namespaced_pod(self, namespace: str, label_selector: str):
        self.selectors.append(label_selector)
        items = []
        if self.admitted:
            self.pod_lists += 1
            if self.pod_lists > self.pods_after_lists:
                items = [self._pod()]
        return k8s.V1PodList(items=items)

    def delete_namespaced_job(self, **kwargs):
        self.deleted.append(kwargs)

    def _pod(self) -> k8s.V1Pod:
        job = self.created[-1]
        return k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(
                name=f"{job.metadata.name}-abcde",
                namespace=job.metadata.namespace,
                labels={**job.spec.template.metadata.labels, "job-name": job.metadata.name},
            ),
            status=k8s.V1PodStatus(phase="Succeeded"),
        )


@pytest.fixture()
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(kit_job, "_now", c.now)
    monkeypatch.setattr(kit_job, "_sleep", c.sleep)
    return c


def make_context() -> dict[str, Any]:
    ti = mock.MagicMock(dag_id="kit_dag", task_id="queued", try_number=1, map_index=-1)
    return {"ti": ti, "run_id": "manual__2025-01-01", "dag": SimpleNamespace(dag_id="kit_dag")}


def wire(op, cluster: FakeCluster):
    """Point the operator's cached Kubernetes clients at the fake cluster."""
    op.__dict__["hook"] = cluster
    op.__dict__["client"] = cluster
    op.__dict__["job_client"] = cluster
    op.__dict__["pod_manager"] = mock.MagicMock()
    return op


def xcoms(context) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


def queued_op(**kwargs) -> QueuedKubernetesJobOperator:
    defaults = dict(
        task_id="queued",
        cmds=["sh", "-c", "echo hi"],
        get_logs=False,
        do_xcom_push=False,
        on_finish_action="keep_pod",
        admission_poke_interval=30,
        defer_admission=False,  # these cases drive the in-worker wait; the deferred one is below
    )
    return QueuedKubernetesJobOperator(team="etl", **{**defaults, **kwargs})


# ----------------------------------------------------------------------------- the Job manifest
def test_job_manifest_is_suspended_with_queue_marks_and_full_resources():
    op = wire(queued_op(cpu="4", memory="16Gi", labels={"app": "crunch"}), FakeCluster())
    job = op.build_job_request_obj(make_context())
    assert job.kind == "Job" and job.api_version == "batch/v1"
    assert job.spec.suspend is True
    assert job.metadata.namespace == "airflow"
    assert job.metadata.name.startswith("job-queued")
    # queue/quota marks on the Job (what koord-queue reads) and on its pods (what the scheduler reads)
    for labels in (job.metadata.labels, job.spec.template.metadata.labels):
        assert labels["quota.scheduling.koordinator.sh/name"] == "etl"
        assert labels["koordinator.sh/qosClass"] == "BE"
        assert labels["app"] == "crunch"
    pod = job.spec.template.spec
    assert pod.scheduler_name == "koord-scheduler"
    assert pod.priority_class_name == "koord-batch"
    base = pod.containers[0]
    assert base.name == "base"
    assert base.image == "registry.example/etl-airflow:1.0"
    assert base.resources.requests == {"cpu": "4", "memory": "16Gi"}
    assert base.resources.limits == {"cpu": "4", "memory": "16Gi"}
    assert base.command == ["sh", "-c", "echo hi"]
    assert [e.value for e in base.env if e.name == "AIRFLOW_KIT_TEAM"] == ["etl"]
    # business code gets none of the Airflow worker's secrets or config (no worker template)
    assert not [e.name for e in base.env if e.name.startswith("AIRFLOW__")]
    assert not pod.volumes and not base.volume_mounts
    assert not pod.init_containers
    assert pod.restart_policy == "Never"


def test_job_manifest_local_disk_one_volume():
    op = wire(queued_op(local_disk="200Gi"), FakeCluster())
    pod = op.build_job_request_obj(make_context()).spec.template.spec
    assert [v.name for v in pod.volumes] == ["local-disk"]
    assert pod.volumes[0].ephemeral.volume_claim_template.spec.resources.requests == {"storage": "200Gi"}
    assert [m.name for m in pod.containers[0].volume_mounts] == ["local-disk"]
    assert pod.containers[0].volume_mounts[0].mount_path == "/scratch"


def test_job_manifest_queue_none_is_not_suspended(catalog_dir):
    catalog_dir(queue="none", scheduler="volcano")
    op = wire(queued_op(), FakeCluster())
    job = op.build_job_request_obj(make_context())
    assert job.spec.suspend is None
    assert job.spec.template.spec.scheduler_name == "volcano"
    assert job.spec.template.metadata.annotations["scheduling.volcano.sh/queue-name"] == "etl"


# ----------------------------------------------------------------------------- behaviour
def test_waits_while_suspended_then_runs(clock):
    cluster = FakeCluster(admit_after_polls=3)
    op = wire(queued_op(), cluster)
    ctx = make_context()
    op.execute(ctx)
    assert cluster.created[0].spec.suspend is True
    assert cluster.status_polls == 4  # 3 suspended reads, then admitted
    assert clock.sleeps == [30, 30, 30]
    assert op.queue_wait_seconds == 90
    x = xcoms(ctx)
    assert x["queue_wait_seconds"] == 90
    assert x["job_name"] == cluster.created[0].metadata.name
    assert x["job"]["status"]["conditions"][0]["type"] == "Complete"
    assert len(op.pods) == 1 and op.pods[0].metadata.name.startswith(cluster.created[0].metadata.name)
    # the pod discovery used the Job's pod labels, queue labels included
    assert "quota.scheduling.koordinator.sh/name=etl" in cluster.selectors[0]


def test_waits_for_pods_after_admission(clock):
    """After unsuspension the Job controller needs a moment to create pods; the parent's
    get_pods would give up after 4 immediate listings."""
    cluster = FakeCluster(admit_after_polls=1, pods_after_lists=6)
    op = wire(queued_op(), cluster)
    op.execute(make_context())
    assert cluster.pod_lists >= 7
    assert clock.sleeps[:1] == [30] and clock.sleeps[1:] == [2.0] * 6


def test_times_out_with_clear_error_and_deletes_job(clock):
    cluster = FakeCluster(admit_after_polls=None)
    op = wire(queued_op(admission_timeout=100), cluster)
    with pytest.raises(JobAdmissionTimeout) as e:
        op.execute(make_context())
    msg = str(e.value)
    name = cluster.created[0].metadata.name
    assert f"airflow/{name}" in msg and "team etl" in msg and "koord-queue" in msg
    assert "within 100s" in msg and "spec.suspend=true" in msg and "deleted" in msg
    assert clock.sleeps == [30, 30, 30, 10]
    assert cluster.status_polls == 5
    assert cluster.deleted == [{"name": name, "namespace": "airflow", "propagation_policy": "Foreground"}]
    assert cluster.selectors == []  # never looked for pods


def test_timeout_can_keep_the_job(clock):
    cluster = FakeCluster(admit_after_polls=None)
    op = wire(queued_op(admission_timeout=60, delete_job_on_admission_timeout=False), cluster)
    with pytest.raises(JobAdmissionTimeout, match="the Job was kept"):
        op.execute(make_context())
    assert cluster.deleted == []


def test_job_deleted_while_queued(clock):
    cluster = FakeCluster(admit_after_polls=None, deleted_after_polls=2)
    op = wire(queued_op(), cluster)
    with pytest.raises(JobAdmissionError, match="was deleted while waiting in the koord-queue queue"):
        op.execute(make_context())


def test_queue_none_does_not_wait(clock, catalog_dir):
    catalog_dir(queue="none")
    cluster = FakeCluster()
    op = wire(queued_op(), cluster)
    ctx = make_context()
    op.execute(ctx)
    assert cluster.created[0].spec.suspend is None
    assert cluster.status_polls == 0
    assert clock.sleeps == []
    assert "queue_wait_seconds" not in xcoms(ctx)
    assert len(op.pods) == 1


def test_deferrable_defers_after_admission(clock):
    cluster = FakeCluster(admit_after_polls=2)
    op = wire(queued_op(deferrable=True), cluster)
    with pytest.raises(TaskDeferred) as e:
        op.execute(make_context())
    assert cluster.status_polls == 3
    trigger = e.value.trigger
    assert trigger.job_name == cluster.created[0].metadata.name
    assert trigger.pod_names == [op.pods[0].metadata.name]


def test_parent_operator_fails_on_a_suspended_job():
    """FACTS.md, checked here: the stock operator's get_pods gives up while the Job is queued."""
    cluster = FakeCluster(admit_after_polls=None)
    op = KubernetesJobOperator(
        task_id="plain", image="busybox", suspend=True, wait_until_job_complete=True, get_logs=False,
        do_xcom_push=False, namespace="airflow",
    )
    wire(op, cluster)
    with pytest.raises(AirflowException, match="No pods running with labels"):
        op.execute(make_context())
    assert cluster.status_polls == 0


# ----------------------------------------------------------------------------- parse-time errors
def test_suspend_conflicts(catalog_dir):
    with pytest.raises(AirflowKitError, match="would bypass the 'koord-queue' queue"):
        queued_op(suspend=False)
    catalog_dir(queue="none")
    with pytest.raises(AirflowKitError, match="nothing would ever unsuspend"):
        queued_op(suspend=True)


def test_unknown_team_and_bad_quantities():
    with pytest.raises(UnknownTeamError, match=r"\['etl', 'ml'\]"):
        kubernetes_job("nope", task_id="x")
    with pytest.raises(AirflowKitError, match="'4x'"):
        kubernetes_job("etl", task_id="x", memory="4x")
    with pytest.raises(AirflowKitError, match="team 'ml' has no local disk"):
        kubernetes_job("ml", task_id="x", local_disk="1Gi")
    with pytest.raises(AirflowKitError, match="admission_timeout must be > 0"):
        kubernetes_job("etl", task_id="x", admission_timeout=0)


# ----------------------------------------------------------------------------- deferred admission
def test_admission_is_deferred_to_the_triggerer_with_an_absolute_deadline(clock):
    cluster = FakeCluster(admit_after_polls=None)
    op = wire(queued_op(defer_admission=True, admission_timeout=3600), cluster)
    with pytest.raises(TaskDeferred) as e:
        op.execute(make_context())
    trigger = e.value.trigger
    assert e.value.method_name == "execute_after_admission"
    assert type(trigger).__name__ == "JobAdmissionTrigger" and cluster.status_polls == 0  # no wait in the worker
    assert trigger.job_name == cluster.created[0].metadata.name
    assert trigger.deadline - trigger.created == pytest.approx(3600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_kit.triggers.JobAdmissionTrigger" and kwargs["deadline"] == trigger.deadline


def test_resume_after_admission_reattaches_to_the_same_job(clock):
    cluster = FakeCluster(admit_after_polls=0)
    op = wire(queued_op(defer_admission=True), cluster)
    cluster.create_job(op.build_job_request_obj(make_context()))  # the Job created before deferring
    name = cluster.created[0].metadata.name
    op.execute_after_admission(make_context(), {"status": "admitted", "job_name": name,
                                                "job_namespace": "airflow", "waited": 42.0})
    assert len(cluster.created) == 1  # reattached, not created again
    assert op.queue_wait_seconds == 42.0


@pytest.mark.parametrize("status, error", [("timeout", JobAdmissionTimeout), ("deleted", JobAdmissionError)])
def test_resume_with_a_failed_admission_raises(clock, status, error):
    cluster = FakeCluster(admit_after_polls=None)
    op = wire(queued_op(defer_admission=True), cluster)
    with pytest.raises(error):
        op.execute_after_admission(make_context(), {"status": status, "job_name": "j", "job_namespace": "airflow",
                                                    "waited": 1.0})


def test_missing_catalog_builds_the_operator_and_fails_it_at_run(tmp_path, monkeypatch):
    """No teams.json (a laptop, a DAG CI): the operator is built (no queue known, so `suspend` is
    not checked; quantities are), and running it fails with the catalog's one message."""
    from airflow_kit import CatalogError, InvalidQuantityError

    monkeypatch.setenv("AIRFLOW_KIT_POD_TEMPLATES_DIR", str(tmp_path))
    op = QueuedKubernetesJobOperator(task_id="j", team="etl", cpu="2", memory="4Gi", local_disk="10Gi",
                                     suspend=True, cmds=["true"])
    assert op.catalog_missing and op.pool == "default_pool" and op.image is None
    with pytest.raises(CatalogError, match="teams.json not found.*AIRFLOW_KIT_POD_TEMPLATES_DIR"):
        op.pre_execute({})
    with pytest.raises(InvalidQuantityError):
        QueuedKubernetesJobOperator(task_id="k", team="etl", local_disk="10x", cmds=["true"])
