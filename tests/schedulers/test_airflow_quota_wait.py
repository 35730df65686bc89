"""The real Airflow scheduler keeps a quota-held task alive for the stack's wait, and no longer.

Airflow 3.1.7's dag-processor and scheduler run as host processes with the KubernetesExecutor
and the clocks the kit renders from `scheduler.maxQueueWait` (shortened to 90 s here; users
get 30 min to 6 h). The task's pod comes from the kit's team template through the DAG helper;
the real koord-scheduler holds it Pending while the team's quota is full (kwok nodes: the pod
is bound but no container runs, so only the waiting side of the task is exercised).

* within the wait: the pod stays Pending, the task stays queued, the pod is never deleted, and
  it is bound as soon as the quota has room;
* past the wait: Airflow fails the task once, with the reason in its log table, instead of
  deleting and recreating the pod twice.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from airflow_kit_platform.airflow.values import queue_wait_config
from repo_tools.schedulers import Scheduler
from tests.support.measurements import MEASURED
from tests.support.schedulers import TASK, start_koord_cluster

pytest.importorskip("airflow.providers.cncf.kubernetes")

NAMESPACE = "airflow-held"
WAIT_SECONDS = 90
CONFIG = {
    "namespace": NAMESPACE,
    "airflow": {"chart": {"install": False}, "executors": ["KubernetesExecutor"]},
    "scheduler": {"backend": "koordinator", "install": False, "maxQueueWait": f"{WAIT_SECONDS}s"},
    "teams": [{"name": "held", "min": {"cpu": "1", "memory": "4Gi"}, "max": {"cpu": "2", "memory": "8Gi"},
               "taskResources": TASK, "poolSlots": 4}],
}
DAG = '''
import pendulum
from airflow.sdk import DAG, task
from airflow_kit import on_kubernetes

with DAG("quota_held", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    @task(**on_kubernetes("held"))
    def work():
        return 1

    work()
'''


class Airflow:
    def __init__(self, home, env):
        self.home, self.env = home, env
        self.processes: list[Scheduler] = []

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                                text=True, timeout=300)
        if check:
            assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result

    def start(self, name: str, *args: str) -> None:
        self.processes.append(Scheduler(name, list(args), self.env, self.home / f"{name}.log",
                                        program=[sys.executable, "-m", "airflow"]))

    def state(self, run_id: str) -> str:
        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute("select state from task_instance where dag_id='quota_held' and run_id=?",
                             (run_id,)).fetchone()
        return row[0] if row else "none"

    def log_events(self, run_id: str) -> list[tuple[str, str]]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            return db.execute("select event, extra from log where dag_id='quota_held' and run_id=?",
                              (run_id,)).fetchall()

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="module")
def held(scheduler_cluster_factory, tmp_path_factory):
    sched = start_koord_cluster(scheduler_cluster_factory, tmp_path_factory, "held", CONFIG)
    templates = tmp_path_factory.mktemp("pod_templates")
    configmap = sched.get("configmap", "airflow-kit-pod-templates", "-n", NAMESPACE)
    for name, text in configmap["data"].items():
        (templates / name).write_text(text)
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    (home / "dags" / "quota_held.py").write_text(DAG)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "KubernetesExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": NAMESPACE,
        "AIRFLOW__KUBERNETES_EXECUTOR__IN_CLUSTER": "False",
        "AIRFLOW__KUBERNETES_EXECUTOR__CONFIG_FILE": sched.cluster.kubeconfig,
        "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(templates / "pod_template_file.yaml"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW_KIT_POD_TEMPLATES_DIR": str(templates),
    })
    # The kit's clocks, exactly as it renders them into airflow.cfg.
    for section, entries in queue_wait_config(WAIT_SECONDS).items():
        for key, value in entries.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    airflow = Airflow(home, env)
    airflow.cli("db", "migrate")
    airflow.cli("pools", "set", "team-held", "4", "Tasks of team held")
    airflow.start("dag-processor", "dag-processor")
    airflow.start("scheduler", "scheduler")
    # Until the dag-processor has stored the DAG: `dags unpause` of an unknown DAG exits 0 too
    # (a trigger right after it then failed with DagNotFound when the cores were busy).
    deadline = time.monotonic() + 180
    while '"quota_held"' not in airflow.cli("dags", "list", "-o", "json", check=False).stdout:
        assert time.monotonic() < deadline, (home / "dag-processor.log").read_text()[-3000:]
        time.sleep(2)
    airflow.cli("dags", "unpause", "quota_held")
    yield sched, airflow
    airflow.stop()


def task_pod(sched, run_fragment: str):
    for pod in sched.pods():
        labels = pod["metadata"]["labels"]
        if labels.get("dag_id") == "quota_held" and run_fragment in labels.get("run_id", ""):
            return pod
    return None


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def test_task_held_by_its_quota_survives_until_room_frees_then_binds(held):
    sched, airflow = held
    fillers = sched.submit("held", 2, prefix="filler")  # the team's quota (2 cpu) is full
    sched.settle(lambda c: c.get("held", {}).get("bound") == 2)
    airflow.cli("dags", "trigger", "quota_held", "--run-id", "within-wait")
    pod = wait_for("the task pod", lambda: task_pod(sched, "within-wait"), 120)
    uid, created = pod["metadata"]["uid"], time.monotonic()
    time.sleep(WAIT_SECONDS * 0.6)  # longer than any requeue would take, shorter than the stack's wait
    pod = task_pod(sched, "within-wait")
    assert pod is not None and pod["metadata"]["uid"] == uid, "the pending pod was deleted or recreated"
    assert not pod["spec"].get("nodeName"), "the pod was bound although the quota is full"
    assert airflow.state("within-wait") == "queued"
    reasons = [c.get("message", "") for c in pod["status"].get("conditions", [])]
    assert any("Insufficient quotas" in reason for reason in reasons), reasons
    held_seconds = time.monotonic() - created
    for name in fillers:  # room frees up
        sched.cluster.kubectl("delete", "pod", name, "-n", NAMESPACE, "--wait=false")
    bound = wait_for("binding", lambda: (task_pod(sched, "within-wait") or {}).get("spec", {}).get("nodeName"), 60)
    assert task_pod(sched, "within-wait")["metadata"]["uid"] == uid
    assert airflow.state("within-wait") in ("queued", "running")
    MEASURED["airflow scheduler: quota-held task"] = (
        f"pod Pending {held_seconds:.0f} s with the task queued (stack wait {WAIT_SECONDS} s), same pod bound "
        f"to {bound} {time.monotonic() - created - held_seconds:.1f} s after room freed")


def test_task_past_the_wait_fails_once_with_airflows_reason(held):
    sched, airflow = held
    sched.submit("held", 1, prefix="refill")  # with the first task's pod, the quota is full again
    airflow.cli("dags", "trigger", "quota_held", "--run-id", "past-wait")
    pod = wait_for("the task pod", lambda: task_pod(sched, "past-wait"), 120)
    uid, started = pod["metadata"]["uid"], time.monotonic()
    state = wait_for("the task to fail", lambda: airflow.state("past-wait") == "failed" and "failed",
                     WAIT_SECONDS + 120)
    failed_after = time.monotonic() - started
    events = airflow.log_events("past-wait")
    assert state == "failed" and failed_after >= WAIT_SECONDS * 0.8
    assert ("stuck in queued tries exceeded",
            "Task was requeued more than 0 times and will be failed.") in events, events
    assert not any(event == "stuck in queued reschedule" for event, _ in events)  # no delete-and-requeue
    pods = [p for p in sched.pods() if p["metadata"]["labels"].get("dag_id") == "quota_held"
            and "past-wait" in p["metadata"]["labels"].get("run_id", "") and not p["metadata"].get("deletionTimestamp")]
    assert all(p["metadata"]["uid"] == uid for p in pods)  # never recreated
    MEASURED["airflow scheduler: task past the wait"] = f"failed {failed_after:.0f} s after its pod was created: {events}"
