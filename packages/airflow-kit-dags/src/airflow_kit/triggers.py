"""``JobAdmissionTrigger``: waits in the triggerer while a suspended Job sits in its team's queue.

A queued Job can wait for hours. Waiting in a worker would hold a Celery slot, or under the
KubernetesExecutor a worker pod that carries the team's quota label and so eats the very quota
the Job waits for. Deferred, the task holds nothing: the triggerer polls the Job with the async
Kubernetes client until the queue unsuspends it (``spec.suspend`` false), it disappears, or the
deadline passes. The deadline is an absolute time, so a triggerer that restarts rebuilds the
trigger from ``serialize()`` and keeps the same deadline and Job (reattach).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

from kubernetes_asyncio.client.exceptions import ApiException

from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook, KubernetesHook
from airflow.triggers.base import BaseTrigger, TriggerEvent


class JobAdmissionTrigger(BaseTrigger):
    """Fire once the Job is admitted (``status: admitted``), deleted, failed, or past ``deadline``."""

    def __init__(
        self,
        *,
        job_name: str,
        job_namespace: str,
        deadline: float,
        created: float,
        poll_interval: float = 30.0,
        kubernetes_conn_id: str | None = None,
        cluster_context: str | None = None,
        config_file: str | None = None,
        in_cluster: bool | None = None,
    ) -> None:
        super().__init__()
        self.job_name, self.job_namespace = job_name, job_namespace
        self.deadline, self.created, self.poll_interval = deadline, created, poll_interval
        self.kubernetes_conn_id, self.cluster_context = kubernetes_conn_id, cluster_context
        self.config_file, self.in_cluster = config_file, in_cluster

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "job_namespace": self.job_namespace,
                "deadline": self.deadline,
                "created": self.created,
                "poll_interval": self.poll_interval,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "cluster_context": self.cluster_context,
                "config_file": self.config_file,
                "in_cluster": self.in_cluster,
            },
        )

    def _event(self, status: str, **extra: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, "job_name": self.job_name, "job_namespace": self.job_namespace,
                             "waited": round(time.time() - self.created, 3), **extra})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AsyncKubernetesHook(conn_id=self.kubernetes_conn_id, in_cluster=self.in_cluster,
                                   config_file=self.config_file, cluster_context=self.cluster_context)
        while True:
            try:
                job = await hook.get_job_status(name=self.job_name, namespace=self.job_namespace)
            except ApiException as error:
                if error.status == 404:
                    yield self._event("deleted")
                    return
                raise
            if not (job.spec and job.spec.suspend):
                yield self._event("admitted")
                return
            # The same test as the operator's in-worker wait (the provider's, which reads no client).
            if reason := KubernetesHook.is_job_failed(job):
                yield self._event("failed", reason=reason)
                return
            remaining = self.deadline - time.time()
            if remaining <= 0:
                yield self._event("timeout")
                return
            await asyncio.sleep(min(self.poll_interval, remaining))
