"""JobAdmissionTrigger against a real kube-apiserver: the deferred wait of a queued Job.

A suspended Job is created in the local control plane; the trigger polls it with the async
Kubernetes client exactly as the triggerer would. Unsuspending it (what koord-queue / ACK
kube-queue do on admission) fires `admitted`; a Job that stays queued past the deadline fires
`timeout`; a deleted one `deleted`.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("airflow.providers.cncf.kubernetes")

from airflow_kit.triggers import JobAdmissionTrigger  # noqa: E402
from tests.support.measurements import MEASURED  # noqa: E402

NAMESPACE = "default"


CONN_ID = "kit_local_cluster"


@pytest.fixture(autouse=True)
def kubernetes_connection(cluster, monkeypatch):
    # The trigger reaches the cluster as a user's would: through a Kubernetes connection.
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": cluster.kubeconfig}}))


def suspended_job(cluster, name: str) -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "base", "image": "busybox", "command": ["true"]}]}}}}
    import subprocess

    subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "apply", "-f", "-"], input=json.dumps(job),
                   env=cluster.env, check=True, capture_output=True, text=True, timeout=60)


def trigger_for(cluster, name: str, deadline_in: float) -> JobAdmissionTrigger:
    now = time.time()
    return JobAdmissionTrigger(job_name=name, job_namespace=NAMESPACE, created=now, deadline=now + deadline_in,
                               poll_interval=0.5, kubernetes_conn_id=CONN_ID, in_cluster=False)


async def first_event(trigger: JobAdmissionTrigger, during=None):
    async def consume():
        async for event in trigger.run():
            return event.payload

    task = asyncio.ensure_future(consume())
    if during is not None:
        await asyncio.sleep(2)
        await asyncio.get_running_loop().run_in_executor(None, during)
    return await asyncio.wait_for(task, timeout=60)


def test_trigger_fires_when_the_queue_unsuspends_the_job(cluster):
    suspended_job(cluster, "queued-admitted")
    started = time.monotonic()
    event = asyncio.run(first_event(
        trigger_for(cluster, "queued-admitted", 120),
        during=lambda: cluster.kubectl("patch", "job", "queued-admitted", "-n", NAMESPACE, "--type=merge",
                                       "-p", '{"spec":{"suspend":false}}')))
    assert event["status"] == "admitted" and event["job_name"] == "queued-admitted"
    assert event["waited"] >= 2
    MEASURED["e2e JobAdmissionTrigger: unsuspend -> admitted event"] = f"{time.monotonic() - started - 2:.1f} s"


def test_trigger_times_out_on_a_job_that_stays_queued(cluster):
    suspended_job(cluster, "queued-forever")
    event = asyncio.run(first_event(trigger_for(cluster, "queued-forever", 3)))
    assert event["status"] == "timeout"


def test_trigger_reports_a_job_deleted_while_queued(cluster):
    suspended_job(cluster, "queued-deleted")
    event = asyncio.run(first_event(
        trigger_for(cluster, "queued-deleted", 120),
        during=lambda: cluster.kubectl("delete", "job", "queued-deleted", "-n", NAMESPACE, "--wait=true")))
    assert event["status"] == "deleted"
