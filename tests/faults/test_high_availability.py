"""The prod profile's HA on the real node: two schedulers, two API servers, two triggerers and
their PodDisruptionBudgets (the fault stack moved to them with `pulumi up`). One of each is
SIGKILLed with work in flight: scheduling must go on with a bounded gap, no task's call to the
API may fail, and a deferred task must resume on the other triggerer.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest
import requests

from tests.support.faults import OUTCOMES, PROBE_TASKS, FaultLab, Outcome
from tests.support.measurements import MEASURED
from tests.support.real_node import NAMESPACE, STACK, stack_config

STREAM = "kit_fault_stream"
HA = {"schedulerReplicas": 2, "apiServerReplicas": 2, "triggererReplicas": 2}
# The largest pause in scheduling a surviving scheduler may show (single-scheduler restarts
# take a minute or more here: the new process has to start and adopt).
MAX_SCHEDULING_GAP_SECONDS = 30


@pytest.fixture(scope="module")
def ha_lab(fault_lab):
    project = fault_lab.project
    airflow = {**stack_config(NAMESPACE)["airflow"], **HA}
    project.set_config(stack_config(NAMESPACE, airflow=airflow))
    started = time.monotonic()
    project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=1200)
    fault_lab.wait_ready("scheduler", "api-server", "triggerer", count=2)  # the rollouts over
    MEASURED["faults: pulumi up to HA (2 schedulers, API servers, triggerers) until Ready"] = \
        f"{time.monotonic() - started:.0f} s"
    yield fault_lab


def instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_the_ha_profile_runs_two_of_each_with_disruption_budgets(ha_lab):
    for component in ("scheduler", "api-server", "triggerer"):
        running = [pod for pod in ha_lab.pods(component) if not pod["metadata"].get("deletionTimestamp")]
        assert len(running) == 2, (component, [pod["metadata"]["name"] for pod in running])
    budgets = json.loads(ha_lab.node.kubectl("-n", NAMESPACE, "get", "pdb", "-o", "json").stdout)["items"]
    names = {budget["metadata"]["name"] for budget in budgets}
    assert {"airflow-scheduler-pdb", "airflow-api-server-pdb", "airflow-triggerer-pdb"} <= names, names


def test_scheduling_goes_on_when_one_of_two_schedulers_dies(ha_lab):
    lab: FaultLab = ha_lab
    lab.call("PATCH", f"/dags/{STREAM}", json={"is_paused": False})
    run_id = lab.call("POST", f"/dags/{STREAM}/dagRuns", json={"logical_date": None})["dag_run_id"]
    deadline = time.monotonic() + 180
    while sum(1 for t in lab.call("GET", f"/dags/{STREAM}/dagRuns/{run_id}/taskInstances",
                                  params={"limit": 100})["task_instances"] if t["state"] == "success") < 4:
        assert time.monotonic() < deadline, "the stream never started"
        time.sleep(1)
    killed_at = time.time()
    lab.kill("scheduler")
    run = lab.wait_run(run_id, dag_id=STREAM, timeout=600)
    tasks = lab.call("GET", f"/dags/{STREAM}/dagRuns/{run_id}/taskInstances", params={"limit": 100})["task_instances"]
    queued = sorted(instant(t["queued_when"]) for t in tasks if t.get("queued_when"))
    gaps = [later - earlier for earlier, later in zip(queued, queued[1:]) if later > killed_at - 5]
    gap = max(gaps) if gaps else 0.0
    reruns = sum(max(0, (t.get("try_number") or 1) - 1) for t in tasks)
    OUTCOMES.append(Outcome("HA: one of two schedulers SIGKILLed", f"the other keeps scheduling: largest gap between "
                            f"queued tasks after the kill {gap:.1f} s", gap, reruns))
    assert run["state"] == "success", run
    assert len(queued) == 40
    assert gap <= MAX_SCHEDULING_GAP_SECONDS, f"scheduling stopped for {gap:.0f} s with a second scheduler up"


def test_no_task_call_fails_when_one_of_two_api_servers_dies(ha_lab):
    lab: FaultLab = ha_lab
    failures, calls = [], [0]
    stop = threading.Event()

    def poll() -> None:  # a user's view through the Service while it happens
        while not stop.is_set():
            calls[0] += 1
            try:
                if not requests.get(f"{lab.api().base}/api/v2/monitor/health", timeout=3).ok:
                    failures.append(time.monotonic())
            except requests.RequestException:
                failures.append(time.monotonic())
            time.sleep(0.5)

    run_id = lab.start_probe()
    lab.wait_in_flight(run_id)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    lab.kill("api-server")
    run = lab.wait_run(run_id)
    stop.set()
    poller.join(timeout=10)
    tasks = lab.task_states(run_id)
    reruns = sum(tasks[t]["try_number"] - 1 for t in PROBE_TASKS)
    OUTCOMES.append(Outcome("HA: one of two API servers SIGKILLed", f"the tasks' Execution API calls all succeed "
                            f"(no rerun); a user's poll through the Service failed {len(failures)} of {calls[0]} "
                            f"times while the dead pod left the endpoints", None, reruns))
    assert run["state"] == "success" and reruns == 0, {t: (tasks[t]["state"], tasks[t]["try_number"])
                                                      for t in PROBE_TASKS}


def triggerer_holding(lab: FaultLab, run_id: str, timeout: float = 60) -> str | None:
    """The triggerer pod running the probe's deferred trigger, as Airflow records it: the task
    instance's `triggerer_job` (its hostname is the pod's name, then the headless Service's domain)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = lab.task_states(run_id)["deferred"].get("triggerer_job") or {}
        if job.get("hostname"):
            return job["hostname"].split(".")[0]
        time.sleep(2)
    return None


def test_a_deferred_task_resumes_on_the_other_triggerer(ha_lab):
    lab: FaultLab = ha_lab
    run_id = lab.start_probe()
    lab.wait_in_flight(run_id)
    holder = triggerer_holding(lab, run_id)
    pods = lab.pods("triggerer")
    names = [pod["metadata"]["name"] for pod in pods]
    assert holder in names, f"the deferred task's triggerer {holder!r} is none of the triggerer pods {names}"
    target = names.index(holder)
    lab.kill("triggerer", pod=pods[target])
    started = time.monotonic()
    run = lab.wait_run(run_id)
    tasks = lab.task_states(run_id)
    OUTCOMES.append(Outcome("HA: the triggerer holding a deferred task SIGKILLed",
                            "the other triggerer takes the trigger over once the dead one's heartbeat is stale",
                            time.monotonic() - started, tasks["deferred"]["try_number"] - 1))
    assert run["state"] == "success", {t: tasks[t]["state"] for t in PROBE_TASKS}
    assert tasks["deferred"]["try_number"] == 1, "the deferred task was rerun instead of resumed"

