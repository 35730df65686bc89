"""Each scenario: the probe in flight, one real fault, then the run must end by itself.

Asserted for every scenario: the run ends `success`; reruns only within retries (and the ones the
fault explains); KubernetesExecutor pods adopted across scheduler restarts (no rerun of the team
pod's task); the deferred task resumes; the connection, variable, pool, every earlier run and
the task's log are still there; the API answers again. Each row of the fault table (the
terminal summary, and the README) is what this run measured.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from airflow_kit_platform.airflow.values import LOST_TASK_SECONDS, ORPHAN_CHECK_SECONDS
from tests.support.faults import (
    CONNECTION,
    OUTCOMES,
    POOL,
    PROBE,
    PROBE_RETRIES,
    PROBE_TASKS,
    VARIABLE,
    FaultLab,
    Outcome,
)
from tests.support.real_node import NAMESPACE, STACK, stack_config

TRIGGERED: list[str] = []


def recovered(lab: FaultLab, started: float, *components: str, restarts_before: dict[str, int] | None = None,
              timeout: float = 420) -> float:
    """Seconds from the fault until the components run again (restarted when asked) and the API answers."""
    deadline = time.monotonic() + timeout
    while True:
        restarted = all(lab.restarts(c) > restarts_before[c] for c in restarts_before or {})
        if restarted and all(lab.ready(c) for c in components) and lab.api_answers():
            return time.monotonic() - started
        assert time.monotonic() < deadline, (f"{components} not back after {timeout:.0f} s (restarts before "
                                             f"{restarts_before}): {lab.container_states(*components)}")
        time.sleep(1)


def kept(lab: FaultLab) -> None:
    """What a user must find after any fault: their connection, variable, pool and every run."""
    assert lab.call("GET", f"/connections/{CONNECTION['connection_id']}")["host"] == CONNECTION["host"]
    assert lab.call("GET", f"/variables/{VARIABLE['key']}")["value"] == VARIABLE["value"]
    assert lab.call("GET", f"/pools/{POOL['name']}")["slots"] == POOL["slots"]
    runs = lab.call("GET", f"/dags/{PROBE}/dagRuns", params={"limit": 100})
    assert {run["dag_run_id"] for run in runs["dag_runs"]} >= set(TRIGGERED), "a finished run was lost"


def drive(lab: FaultLab, fault: str, inject, *, rerun_tasks: tuple[str, ...] = (),
          may_rerun: tuple[str, ...] = ()) -> Outcome:
    """The probe in flight, `inject(lab) -> Outcome`, the run to its end, then what must hold.
    `rerun_tasks`: the tasks the fault takes down with it (each must rerun, within its retries);
    `may_rerun`: tasks it may take down (the database gone for longer than a task's failed
    heartbeats allow: its supervisor stops it, and it reruns within its retries)."""
    run_id = lab.start_probe()
    TRIGGERED.append(run_id)
    lab.wait_in_flight(run_id)
    outcome = inject(lab)
    outcome.fault = fault
    run = lab.wait_run(run_id)
    tasks = lab.task_states(run_id)
    tries = {task: tasks[task]["try_number"] for task in PROBE_TASKS}
    outcome.reruns = sum(count - 1 for count in tries.values())
    OUTCOMES.append(outcome)
    assert run["state"] == "success", (fault, {t: (tasks[t]["state"], tries[t]) for t in PROBE_TASKS})
    assert all(count <= PROBE_RETRIES + 1 for count in tries.values()), tries
    for task in PROBE_TASKS:
        if task in rerun_tasks:
            assert tries[task] >= 2, f"{task} was lost with the fault but not rerun: {tries}"
        elif task not in may_rerun:
            assert tries[task] == 1, f"{task} reran though {fault} should not take it down: {tries}"
    if outcome.reruns:
        outcome.what_happens += f"; reran: {', '.join(t for t in PROBE_TASKS if tries[t] > 1)}"
    assert "celery:" in lab.log(run_id, tasks["on_celery"]), "the Celery task's log is gone"
    kept(lab)
    return outcome


def hard_kill(component: str, what: str):
    def inject(lab: FaultLab) -> Outcome:
        before = {component: lab.restarts(component)}
        started = time.monotonic()
        lab.kill(component)
        seconds = recovered(lab, started, component, restarts_before=before)
        return Outcome(fault="", what_happens=what, recovery_seconds=seconds)
    return inject


def graceful_delete(component: str, what: str):
    def inject(lab: FaultLab) -> Outcome:
        old = lab.pods(component)[0]["metadata"]["uid"]  # a StatefulSet's new pod keeps the name
        lab.delete_pod(component)
        started = time.monotonic()
        deadline = started + 700  # a Celery worker finishes its task first (its grace period)
        while any(pod["metadata"]["uid"] == old for pod in lab.pods(component)):
            assert time.monotonic() < deadline, f"the deleted {component} pod never went away"
            time.sleep(1)
        return Outcome(fault="", what_happens=what, recovery_seconds=recovered(lab, started, component))
    return inject


def test_scheduler_sigkill_adopts_the_team_pod(fault_lab):
    drive(fault_lab, "scheduler SIGKILL", hard_kill(
        "scheduler", "the scheduler's process dies at once; kubelet restarts it; the new one adopts the team "
                     "pod and the Celery and deferred tasks carry on"))


def test_finished_task_pods_are_deleted_promptly_after_a_scheduler_restart(fault_lab):
    """The pods of the previous scenario's run finished while their scheduler was gone: the new
    scheduler adopts and deletes them within the orphan check, not ~5 minutes later."""
    deadline = time.monotonic() + ORPHAN_CHECK_SECONDS + 60
    while fault_lab.task_pods("Succeeded"):
        assert time.monotonic() < deadline, [p["metadata"]["name"] for p in fault_lab.task_pods("Succeeded")]
        time.sleep(2)


def test_triggerer_sigkill_while_a_task_is_deferred(fault_lab):
    drive(fault_lab, "triggerer SIGKILL", hard_kill(
        "triggerer", "the triggerer dies with the deferred task's trigger; the restarted one picks the trigger "
                     "up and the task resumes"))


def test_celery_worker_sigkill_mid_task_is_retried_within_minutes(fault_lab):
    """The Celery task's process dies with its worker: it stops heartbeating, and the scheduler
    fails it after LOST_TASK_SECONDS and retries it (a quota-held Pending pod is `queued`, never
    running, so this clock does not end its wait: tests/schedulers holds one for the stack's wait)."""
    inject = hard_kill("worker", f"the Celery task's process dies; no heartbeat for {LOST_TASK_SECONDS} s, "
                                 "then the scheduler fails it and it reruns")
    started = time.monotonic()
    drive(fault_lab, "Celery worker SIGKILL mid-task", inject, rerun_tasks=("on_celery",))
    assert time.monotonic() - started < LOST_TASK_SECONDS + 240, "the lost task took too long to rerun"


def test_a_task_over_its_memory_limit_says_why(fault_lab):
    run_id = fault_lab.call("POST", "/dags/kit_fault_oom/dagRuns", json={"logical_date": None})["dag_run_id"]
    fault_lab.call("PATCH", "/dags/kit_fault_oom", json={"is_paused": False})
    started = time.monotonic()
    run = fault_lab.wait_run(run_id, dag_id="kit_fault_oom", timeout=420)
    task = fault_lab.task_states(run_id, dag_id="kit_fault_oom")["outgrow"]
    log = fault_lab.log(run_id, task, dag_id="kit_fault_oom")
    OUTCOMES.append(Outcome("task OOM-killed (512Mi limit)", "the kernel kills the task process; the task fails "
                            "(retries 0) and its log says `Likely out of memory error (OOM)`",
                            time.monotonic() - started, 0, "the task (by design)"))
    assert run["state"] == "failed" and task["state"] == "failed", (run["state"], task["state"])
    assert "out of memory" in log.lower() or "oom" in log.lower(), log[-2000:]


def test_postgres_sigkill_mid_write_keeps_the_data(fault_lab):
    drive(fault_lab, "Postgres SIGKILL mid-write", hard_kill(
        "postgres", "the database dies with writes in flight; it restarts with crash recovery (WAL), the "
                    "components reconnect (some restart), the API answers 5xx meanwhile"), may_rerun=DATABASE_OUTAGE)


def test_node_reboot(fault_lab):
    """kubelet, containerd and every container stopped hard, started again with their state."""
    def inject(lab: FaultLab) -> Outcome:
        started = time.monotonic()
        lab.node.reboot()
        seconds = recovered(lab, started, "scheduler", "triggerer", "worker", "api-server", "postgres", "redis",
                            "dag-processor", timeout=600)
        return Outcome("", "every container dies; the kubelet starts the pods again; the team pod's task and the "
                           "Celery task rerun, the deferred task resumes", seconds)
    # The deferred task reruns when the reboot catches it resuming (its trigger fired, its
    # worker killed); waiting in the triggerer it resumes: either way within its retries.
    drive(fault_lab, "node reboot (kubelet and containerd restarted, state kept)", inject,
          rerun_tasks=("in_team_pod", "on_celery"), may_rerun=("deferred",))


def test_pulumi_up_killed_midway_converges_when_run_again(fault_lab):
    lab = fault_lab
    project = lab.project

    def inject(lab: FaultLab) -> Outcome:
        # A change that rolls every Airflow component (airflow.cfg's checksum changes).
        project.set_config(stack_config(NAMESPACE, **{"airflow": {
            **stack_config(NAMESPACE)["airflow"], "config": {"core": {"default_task_retries": 0}}}}))
        started = time.monotonic()
        interrupted = project.start("up", "--yes", "--skip-preview", "--stack", STACK)
        time.sleep(25)  # mid-update: the release is being upgraded
        interrupted.send_signal(signal.SIGKILL)
        interrupted.wait(timeout=60)
        # What the user sees next: the killed run's lock (a file backend keeps it) stops the next
        # one, naming `pulumi cancel`; after it, `pulumi up` redoes the interrupted updates.
        locked = project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=600)
        if locked.returncode != 0:
            assert "locked" in locked.stdout + locked.stderr, locked.stdout[-2000:] + locked.stderr[-2000:]
            project.pulumi("cancel", "--yes", "--stack", STACK, timeout=120)
            again = project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=1200)
            assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        seconds = recovered(lab, started, "scheduler", "triggerer", "worker", "api-server")
        return Outcome("", "the update stops midway and its lock stays: the next `pulumi up` is refused naming "
                           "`pulumi cancel`; after it `pulumi up` redoes the interrupted updates, nothing duplicated",
                       seconds)
    drive(lab, "`pulumi up` killed midway, then run again", inject)
    preview = project.preview_expect_no_changes()
    assert preview.returncode == 0, preview.stdout[-3000:]
    # Nothing duplicated or left pending: the state holds no interrupted operation, and every
    # component is one workload with its pods on one template.
    state = json.loads(project.pulumi("stack", "export", "--stack", STACK).stdout)
    assert not state["deployment"].get("pending_operations"), state["deployment"]["pending_operations"]
    for component in ("scheduler", "triggerer", "worker", "api-server"):
        hashes = {pod["metadata"]["labels"].get("pod-template-hash") or pod["metadata"]["labels"].get(
            "controller-revision-hash") for pod in lab.pods(component) if not pod["metadata"].get("deletionTimestamp")}
        assert len(hashes) == 1, (component, hashes)


# With the database down the Execution API answers 5xx and components restart: a task may be
# stopped (its heartbeats failing past the kit's tolerance, or failed by a restarting scheduler).
DATABASE_OUTAGE = PROBE_TASKS


@pytest.mark.parametrize("component,what,rerun", [
    ("scheduler", "a new scheduler adopts the team pod", ()),
    ("worker", "the worker finishes its task within its termination grace period, then restarts", ()),
    ("triggerer", "the deferred task's trigger moves to the new triggerer", ()),
    ("api-server", "the API is unreachable until the new pod is Ready; tasks keep running", ()),
    ("redis", "the broker restarts; Celery reconnects", ()),
    ("postgres", "the database restarts; components reconnect or restart", ()),
])
def test_graceful_restart(fault_lab, component, what, rerun):
    drive(fault_lab, f"{component} pod deleted", graceful_delete(component, what), rerun_tasks=rerun,
          may_rerun=DATABASE_OUTAGE if component == "postgres" else ())


def test_team_task_pod_deleted_is_rerun(fault_lab):
    def inject(lab: FaultLab) -> Outcome:
        pod = [p for p in lab.task_pods("Running") if p["metadata"]["labels"].get("task_id") == "in_team_pod"][0]
        started = time.monotonic()
        lab.node.kubectl("-n", NAMESPACE, "delete", "pod", pod["metadata"]["name"], "--wait=false")
        return Outcome("", "the executor sees the pod gone, fails the try and reruns it", time.monotonic() - started)
    drive(fault_lab, "running team task pod deleted", inject, rerun_tasks=("in_team_pod",))


def test_rolling_pulumi_up(fault_lab):
    project = fault_lab.project

    def inject(lab: FaultLab) -> Outcome:
        project.set_config(stack_config(NAMESPACE, **{"airflow": {
            **stack_config(NAMESPACE)["airflow"], "config": {"core": {"default_task_retries": 1}}}}))
        started = time.monotonic()
        project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK, timeout=1200)
        return Outcome("", "every component rolls to the new airflow.cfg; in-flight work carries on",
                       recovered(lab, started, "scheduler", "triggerer", "worker", "api-server"))
    drive(fault_lab, "rolling `pulumi up` (airflow.cfg changed)", inject)

