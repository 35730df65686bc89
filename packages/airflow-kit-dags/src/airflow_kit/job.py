"""``QueuedKubernetesJobOperator``: a KubernetesJobOperator whose Job waits in the team's queue.

koord-queue and ACK kube-queue do not queue bare pods: they hold ``batch/v1`` Jobs created with
``spec.suspend: true`` and unsuspend them when the team's quota has room. The stock
``KubernetesJobOperator`` (apache-airflow-providers-cncf-kubernetes 10.25.0, operators/job.py) cannot
wait for that:

* ``execute`` creates the Job, sets ``self.job`` (so ``on_kill`` can delete it), pushes the
  ``job_name``/``job_namespace`` XComs, then, with ``wait_until_job_complete=True``, calls
  ``self.get_pods(...)``;
* ``get_pods`` lists the Job's pods ``discover_pods_retry_number`` (3) more times WITHOUT sleeping and
  raises ``AirflowException("No pods running with labels ...")`` if there are none, which is always the
  case while the Job is suspended;
* with ``wait_until_job_complete=False`` it returns right after creating the Job.

The smallest correct override is therefore ``get_pods``: it is the first thing ``execute`` does after
the Job exists and ``self.job`` is set, in both the blocking and the deferrable path (``execute`` calls
``get_pods`` before ``execute_deferrable``).

By default (``defer_admission=True``) the wait for admission is DEFERRED: ``get_pods`` hands the Job to
``JobAdmissionTrigger`` in the triggerer and the task holds no worker slot and no pod while the Job is
queued (under the KubernetesExecutor a waiting worker pod would carry the team's quota label and eat
the quota the Job waits for). On admission ``execute_after_admission`` runs ``execute`` again, which
reattaches to the same Job instead of creating one (``create_job``), and follows the normal path. A
worker that dies after admission reattaches the same way on the task's retry: the Job is found by the
task instance's labels (dag, task, run, map index). With ``defer_admission=False`` the wait runs in
the worker, as below. Before delegating to the parent's ``get_pods`` this class

1. polls the Job (``hook.get_job_status``) every ``admission_poke_interval`` seconds until
   ``spec.suspend`` is no longer true (admitted), logging the time spent in the queue and pushing it
   as XCom ``queue_wait_seconds``; after ``admission_timeout`` it deletes the still-queued Job (so it
   cannot run later with nobody watching) and raises ``JobAdmissionTimeout``; a Job deleted or failed
   while queued raises ``JobAdmissionError``;
2. polls the Job's pods (same label selector as the parent) until the Job controller has created
   them (up to ``pod_discovery_timeout``), because the parent's immediate retries would race it;
3. then returns ``super().get_pods(...)``: pods are logged, waited for, their logs fetched, and the
   Job's result checked exactly as upstream does.

With ``deferrable=True`` the run after admission is deferred too (upstream's ``KubernetesJobTrigger``).
A killed task deletes the Job at any point (upstream ``on_kill``), including while it waits in the queue.

When the stack's queue is ``"none"`` the Job is created unsuspended and nothing above runs: the
operator behaves exactly like its parent.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.common.compat.sdk import AirflowException
from airflow_kit.catalog import (
    AirflowKitError,
    Catalog,
    CatalogError,
    load_catalog,
    parse_quantity,
    resolve_local_disk_size,
    resolve_resources,
)
from airflow_kit.executor import local_disk_volume
from airflow_kit.names import TEAM_ENV
from airflow_kit.triggers import JobAdmissionTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

# Indirections so tests can drive time without sleeping.
_now = time.monotonic
_sleep = time.sleep


class JobAdmissionError(AirflowException):
    """The queued Job was deleted or failed before it was admitted."""


class JobAdmissionTimeout(JobAdmissionError):
    """The Job was not admitted by its queue within ``admission_timeout``."""


def _seconds(value: float | timedelta, what: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise AirflowKitError(f"{what} must be > 0, got {value!r}")
    return seconds


class QueuedKubernetesJobOperator(KubernetesJobOperator):
    """Run a ``batch/v1`` Job as ``team`` through the stack's job queue (koord-queue / ACK kube-queue).

    Team-derived settings (from teams.json, at DAG parse time): ``image``, full ``container_resources`` (requests and limits), ``schedulername``,
    ``priority_class_name``, ``labels`` and ``annotations`` (the team's queue/quota marks, e.g.
    ``quota.scheduling.koordinator.sh/name``, on the Job AND its pods; the caller's labels are added
    on top), ``namespace`` (the catalog's, unless given), ``suspend`` (true when the queue is not
    ``none``). ``wait_until_job_complete`` defaults to True here; with False the Job is created (suspended
    when queued) and the task ends at once, as upstream, without waiting for admission. An explicit
    ``container_resources`` / ``schedulername`` / ``priority_class_name`` wins over
    the team's; labels and annotations are merged (caller's on top).

    :param team: team of teams.json
    :param cpu, memory, cpu_limit, memory_limit, local_disk, image: as ``on_kubernetes``
    :param admission_timeout: how long the Job may wait in the queue (seconds or timedelta; 6 h)
    :param admission_poke_interval: seconds between two reads of the Job while it is queued (30)
    :param pod_discovery_timeout: seconds to wait for the admitted Job's pods to appear (300)
    :param delete_job_on_admission_timeout: delete the still-suspended Job on timeout (True)
    :param defer_admission: wait for admission in the triggerer, holding no worker slot (True)

    Where teams.json is not mounted (a laptop, a DAG CI) the operator is still built (quantities
    checked, nothing team-derived set) and fails when it runs, with the catalog's ``CatalogError``.
    """

    def __init__(
        self,
        *,
        team: str,
        cpu: Any = None,
        memory: Any = None,
        cpu_limit: Any = None,
        memory_limit: Any = None,
        local_disk: Any = None,
        image: str | None = None,
        admission_timeout: float | timedelta = timedelta(hours=6),
        admission_poke_interval: float = 30,
        pod_discovery_timeout: float = 300,
        delete_job_on_admission_timeout: bool = True,
        defer_admission: bool = True,
        wait_until_job_complete: bool = True,
        catalog: Catalog | None = None,
        **kwargs: Any,
    ) -> None:
        catalog = catalog or load_catalog()
        t = catalog.team(team)
        queued = catalog.queue != "none"

        if catalog.missing is not None:
            kwargs.pop("suspend", None)  # whether the stack queues Jobs is in the catalog
        if "suspend" in kwargs and kwargs["suspend"] is not None and bool(kwargs["suspend"]) != queued:
            if queued:
                raise AirflowKitError(
                    f"team {team!r}: suspend=False would bypass the {catalog.queue!r} queue of stack "
                    f"{catalog.stack!r}; the queue unsuspends the Job when the quota has room"
                )
            raise AirflowKitError(
                f"team {team!r}: suspend=True but stack {catalog.stack!r} has no job queue (queue 'none'): "
                "nothing would ever unsuspend the Job"
            )
        kwargs.pop("suspend", None)

        resources = resolve_resources(t, cpu=cpu, memory=memory, cpu_limit=cpu_limit, memory_limit=memory_limit)
        volumes = list(kwargs.pop("volumes", None) or [])
        volume_mounts = list(kwargs.pop("volume_mounts", None) or [])
        if local_disk is True:
            raise AirflowKitError(f"team {team!r}: give the Job's local disk a size, e.g. local_disk='100Gi'")
        if local_disk not in (None, False) and catalog.missing is not None:
            parse_quantity(local_disk, what="local_disk", team=team, kind="storage")
        elif local_disk not in (None, False):
            size = resolve_local_disk_size(t, catalog, local_disk)
            volume, mount = local_disk_volume(t, size)
            volumes.append(volume)
            volume_mounts.append(mount)

        # No pod_template_file: the team's template is an Airflow *worker* pod (metadata DB
        # connection, fernet key, airflow.cfg). A Job runs business code only, so it gets the
        # team's image, resources and scheduler/queue marks and none of Airflow's secrets.
        env_vars = kwargs.pop("env_vars", None)
        if env_vars is None or isinstance(env_vars, dict):
            env_vars = {TEAM_ENV: team, **(env_vars or {})}
        else:
            env_vars = [k8s.V1EnvVar(name=TEAM_ENV, value=team), *env_vars]
        kwargs["env_vars"] = env_vars
        kwargs.setdefault("namespace", t.namespace or catalog.namespace)
        if kwargs.get("schedulername") is None:
            kwargs["schedulername"] = t.scheduler_name
        if kwargs.get("priority_class_name") is None:
            kwargs["priority_class_name"] = t.priority_class_name
        if kwargs.get("retries") is None and t.task_retries is not None:
            # default_args are already in kwargs here: only a task without retries gets the team's.
            kwargs["retries"] = t.task_retries
        kwargs["labels"] = {**t.labels, **(kwargs.get("labels") or {})}
        kwargs["annotations"] = {**t.annotations, **(kwargs.get("annotations") or {})}
        if kwargs.get("container_resources") is None:
            kwargs["container_resources"] = k8s.V1ResourceRequirements(
                requests=resources.get("requests") or None,
                limits=resources.get("limits") or None,
            )

        super().__init__(
            image=image or t.image,
            suspend=True if queued else None,
            wait_until_job_complete=wait_until_job_complete,
            volumes=volumes,
            volume_mounts=volume_mounts,
            **kwargs,
        )
        self.team = team
        self.queue_kind = catalog.queue
        self.stack = catalog.stack
        self.catalog_missing = catalog.missing  # the CatalogError message when teams.json was not found
        self.admission_timeout = _seconds(admission_timeout, "admission_timeout")
        self.admission_poke_interval = _seconds(admission_poke_interval, "admission_poke_interval")
        self.pod_discovery_timeout = _seconds(pod_discovery_timeout, "pod_discovery_timeout")
        self.delete_job_on_admission_timeout = delete_job_on_admission_timeout
        self.defer_admission = defer_admission
        self.queue_wait_seconds: float | None = None
        self._admitted_job: tuple[str, str] | None = None  # (name, namespace) after the trigger fired

    def pre_execute(self, context: Any) -> Any:
        if self.catalog_missing is not None:
            raise CatalogError(self.catalog_missing)
        return super().pre_execute(context)

    # ------------------------------------------------------------------ admission
    @property
    def waits_for_admission(self) -> bool:
        return bool(self.suspend) and self.queue_kind != "none"

    def build_job_request_obj(self, context: Context | None = None) -> k8s.V1Job:
        job = super().build_job_request_obj(context)
        # The task instance's labels on the Job itself (upstream puts them on its pods only), so a
        # resumed or retried task finds the Job it already created.
        job.metadata.labels = {**(job.metadata.labels or {}), **self._get_ti_pod_labels(context, include_try_number=False)}
        return job

    def _existing_job(self, job_request_obj: k8s.V1Job) -> k8s.V1Job | None:
        """The unfinished Job of this task instance, if one is there already."""
        if self._admitted_job is not None:
            name, namespace = self._admitted_job
            return self.hook.get_job_status(job_name=name, namespace=namespace)
        labels = job_request_obj.metadata.labels or {}
        keys = ("dag_id", "task_id", "run_id", "map_index")
        selector = ",".join(f"{key}={labels[key]}" for key in keys if key in labels)
        if not selector:
            return None
        for job in self.job_client.list_namespaced_job(job_request_obj.metadata.namespace,
                                                       label_selector=selector).items:
            finished = self.hook.is_job_failed(job) or self.hook.is_job_successful(job)
            if not finished and not job.metadata.deletion_timestamp:
                return job
        return None

    def create_job(self, job_request_obj: k8s.V1Job) -> k8s.V1Job:
        if self.waits_for_admission:
            existing = self._existing_job(job_request_obj)
            if existing is not None:
                self.log.info("Reattaching to Job %s/%s of this task instance", existing.metadata.namespace,
                              existing.metadata.name)
                return existing
        return super().create_job(job_request_obj)

    def get_pods(
        self, pod_request_obj: k8s.V1Pod, context: Context, *, exclude_checked: bool = True
    ) -> Sequence[k8s.V1Pod]:
        if self.waits_for_admission:
            if self._admitted_job is None and self.defer_admission and self.job.spec and self.job.spec.suspend:
                self.defer_until_admitted()
            if self._admitted_job is None:
                self.wait_for_admission(context)
            self.wait_for_pods(pod_request_obj, context, exclude_checked=exclude_checked)
        return super().get_pods(pod_request_obj, context, exclude_checked=exclude_checked)

    def defer_until_admitted(self) -> None:
        name, namespace = self.job.metadata.name, self.job.metadata.namespace
        created = self.job.metadata.creation_timestamp
        created_at = created.timestamp() if created is not None else time.time()
        self.log.info("Job %s/%s is queued in the %s queue (team %s); deferring until it is admitted "
                      "(at most %ss)", namespace, name, self.queue_kind, self.team, int(self.admission_timeout))
        self.defer(
            trigger=JobAdmissionTrigger(
                job_name=name, job_namespace=namespace, created=created_at,
                deadline=created_at + self.admission_timeout, poll_interval=self.admission_poke_interval,
                kubernetes_conn_id=self.kubernetes_conn_id, cluster_context=self.cluster_context,
                config_file=self.config_file, in_cluster=self.in_cluster),
            method_name="execute_after_admission",
        )

    def execute_after_admission(self, context: Context, event: dict[str, Any]) -> Any:
        name, namespace = event["job_name"], event["job_namespace"]
        status = event["status"]
        if status == "timeout":
            self._admission_timed_out(name, namespace)
        if status != "admitted":
            raise JobAdmissionError(f"Job {namespace}/{name} {status} while waiting in the {self.queue_kind} "
                                    f"queue (team {self.team}){': ' + event['reason'] if event.get('reason') else ''}")
        self._admitted(context, name, namespace, event["waited"])
        self._admitted_job = (name, namespace)
        return self.execute(context)

    def _admitted(self, context: Context, name: str, namespace: str, waited: float) -> None:
        self.queue_wait_seconds = waited
        self.log.info("Job %s/%s admitted by the %s queue after %.1fs in queue", namespace, name,
                      self.queue_kind, waited)
        context["ti"].xcom_push(key="queue_wait_seconds", value=round(waited, 3))

    def _admission_timed_out(self, name: str, namespace: str) -> None:
        self._on_admission_timeout(name, namespace)
        raise JobAdmissionTimeout(
            f"Job {namespace}/{name} (team {self.team}) was not admitted by the {self.queue_kind} queue "
            f"within {self.admission_timeout:.0f}s (still spec.suspend=true); "
            + ("the Job was deleted" if self.delete_job_on_admission_timeout else "the Job was kept")
            + ". Check the team's quota (ElasticQuota / queue) or raise admission_timeout."
        )

    def wait_for_admission(self, context: Context) -> float:
        """Block until the queue unsuspends ``self.job``; return the seconds spent queued."""
        name, namespace = self.job.metadata.name, self.job.metadata.namespace
        start = _now()
        deadline = start + self.admission_timeout
        self.log.info(
            "Job %s/%s created suspended in the %s queue (team %s, stack %s); waiting up to %ss for admission",
            namespace, name, self.queue_kind, self.team, self.stack, int(self.admission_timeout),
        )
        while True:
            try:
                job = self.hook.get_job_status(job_name=name, namespace=namespace)
            except ApiException as e:
                if e.status == 404:
                    raise JobAdmissionError(
                        f"Job {namespace}/{name} was deleted while waiting in the {self.queue_kind} queue "
                        f"(team {self.team}) after {_now() - start:.0f}s"
                    ) from None
                raise
            waited = _now() - start
            if not (job.spec and job.spec.suspend):
                self._admitted(context, name, namespace, waited)
                return waited
            if reason := self.hook.is_job_failed(job=job):
                raise JobAdmissionError(
                    f"Job {namespace}/{name} failed while waiting in the {self.queue_kind} queue: {reason}"
                )
            if _now() >= deadline:
                self._admission_timed_out(name, namespace)
            self.log.info(
                "Job %s/%s still suspended in the %s queue after %.0fs (timeout %.0fs); next check in %.0fs",
                namespace, name, self.queue_kind, waited, self.admission_timeout, self.admission_poke_interval,
            )
            _sleep(max(0.0, min(self.admission_poke_interval, deadline - _now())))

    def _on_admission_timeout(self, name: str, namespace: str) -> None:
        if not self.delete_job_on_admission_timeout:
            return
        try:
            self.job_client.delete_namespaced_job(
                name=name, namespace=namespace, propagation_policy=self.on_kill_propagation_policy
            )
            self.log.info("Deleted Job %s/%s that was never admitted", namespace, name)
        except ApiException as e:
            if e.status != 404:
                self.log.warning("Could not delete unadmitted Job %s/%s: %s", namespace, name, e)

    def wait_for_pods(self, pod_request_obj: k8s.V1Pod, context: Context, *, exclude_checked: bool = True) -> None:
        """After admission the Job controller creates the pods asynchronously: wait for them, so the
        parent's no-sleep discovery does not race it."""
        selector = self._build_find_pod_label_selector(context, exclude_checked=exclude_checked)
        expected = max(1, min(self.parallelism or 1, self.completions or self.parallelism or 1))
        start = _now()
        deadline = start + self.pod_discovery_timeout
        while True:
            found = len(
                self.client.list_namespaced_pod(
                    namespace=pod_request_obj.metadata.namespace, label_selector=selector
                ).items
            )
            if found >= expected:
                return
            if _now() >= deadline:
                if found:
                    self.log.warning("Only %d of %d pods appeared; continuing", found, expected)
                    return
                raise AirflowException(
                    f"Job {self.job.metadata.namespace}/{self.job.metadata.name} was admitted but no pod "
                    f"with labels {selector} appeared within {self.pod_discovery_timeout:.0f}s "
                    "(check the Job's events: admission webhooks, ResourceQuota)"
                )
            _sleep(max(0.0, min(2.0, deadline - _now())))


def kubernetes_job(team: str, **kwargs: Any) -> QueuedKubernetesJobOperator:
    """Shorthand for ``QueuedKubernetesJobOperator(team=team, **kwargs)``."""
    return QueuedKubernetesJobOperator(team=team, **kwargs)
