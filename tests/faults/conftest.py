"""The fault tier: parts of the platform crash, for real, with work in flight (`make test-faults`).

One stack of the kit (local-node's shape, its own namespace) on the session's real node; each
scenario triggers `kit_fault_probe` (a KubernetesExecutor task in the team's pod, a Celery task
and a deferred task), waits until all three are in flight, breaks one part (SIGKILL of a process
from the host, a pod deleted, the node rebooted, `pulumi up` killed) and waits for the run to end
by itself. What a user would lose is asserted after each: runs, connections, variables, pools,
logs, the API.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest
import requests

from repo_tools.airflow_api import AirflowApi
from tests.support.real_node import RealNode, deploy, stack_config

NAMESPACE = "airflow-faults"
STACK = "local-node-faults"
PROBE = "kit_fault_probe"
PROBE_SECONDS = 40
PROBE_TASKS = ("in_team_pod", "on_celery", "deferred")
PROBE_RETRIES = 2  # the probe DAG's default_args
CONNECTION = {"connection_id": "kit_fault_conn", "conn_type": "http", "host": "example.com", "login": "probe"}
VARIABLE = {"key": "kit_fault_var", "value": "kept"}
POOL = {"name": "kit_fault_pool", "slots": 3, "description": "kept across faults"}

# The chart's pods by component label, and the process a hard kill targets in each.
COMPONENTS = {
    "scheduler": ("component=scheduler", "scheduler", r"airflow scheduler"),
    "triggerer": ("component=triggerer", "triggerer", r"airflow triggerer"),
    "worker": ("component=worker,!kubernetes_executor", "worker", r"celery .*worker|airflow celery worker"),
    "api-server": ("component=api-server", "api-server", r"airflow api-server"),
    "redis": ("component=redis", "redis", r"redis-server"),
    "postgres": ("app.kubernetes.io/name=postgresql", "postgresql", r"postgres"),
    "dag-processor": ("component=dag-processor", "dag-processor", r"airflow dag-processor"),
}


class FaultLab:
    """The deployed fault stack and what a scenario does to it."""

    def __init__(self, node: RealNode, project, outputs: dict):
        self.node, self.project, self.outputs = node, project, outputs
        self._api: Optional[AirflowApi] = None

    # -- the API, across outages ----------------------------------------------------------------
    def api(self, wait_seconds: float = 300) -> AirflowApi:
        if self._api is None:
            service = json.loads(self.node.kubectl("-n", NAMESPACE, "get", "service", "airflow-api-server",
                                                   "-o", "json").stdout)
            self._api = AirflowApi(f"http://{service['spec']['clusterIP']}:8080", self.outputs["adminUser"],
                                   self.outputs["adminPassword"], wait_seconds=wait_seconds)
        return self._api

    def call(self, method: str, path: str, timeout: float = 300, **kwargs) -> Any:
        """An API call that waits out an outage (the API server or its database restarting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api().call(method, path, **kwargs)
            except Exception as error:  # connection refused, 5xx while the database restarts
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{method} {path}: no answer for {timeout:.0f} s: {error}") from error
                time.sleep(2)

    def api_answers(self) -> bool:
        try:
            return requests.get(f"{self.api().base}/api/v2/monitor/health", timeout=5).ok
        except requests.RequestException:
            return False

    # -- components -----------------------------------------------------------------------------
    def pods(self, component: str) -> list[dict]:
        return self.node.pods(NAMESPACE, COMPONENTS[component][0])

    def restarts(self, component: str) -> int:
        return sum(status.get("restartCount", 0) for pod in self.pods(component)
                   for status in pod["status"].get("containerStatuses") or [])

    def ready(self, component: str) -> bool:
        pods = [pod for pod in self.pods(component) if not pod["metadata"].get("deletionTimestamp")]
        return bool(pods) and all(status.get("ready") for pod in pods
                                  for status in pod["status"].get("containerStatuses") or [])

    def wait_ready(self, *components: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.ready(component) for component in components):
            assert time.monotonic() < deadline, f"{components} not Ready after {timeout:.0f} s"
            time.sleep(2)

    def kill(self, component: str) -> int:
        """SIGKILL, from the host, of the component's main process (no graceful shutdown)."""
        selector, container, pattern = COMPONENTS[component]
        pod = self.pods(component)[0]
        status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)
        pids = self.node.container_pids(status["containerID"].split("://", 1)[1])
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if re.search(pattern, command):
                import os
                import signal

                os.kill(pid, signal.SIGKILL)
                return pid
        raise AssertionError(f"no process matching {pattern!r} in {component}: pids {pids}")

    def delete_pod(self, component: str) -> str:
        name = self.pods(component)[0]["metadata"]["name"]
        self.node.kubectl("-n", NAMESPACE, "delete", "pod", name, "--wait=false")
        return name

    def task_pods(self, phase: Optional[str] = None) -> list[dict]:
        pods = self.node.pods(NAMESPACE, "kubernetes_executor=True")
        return [pod for pod in pods if phase is None or pod["status"].get("phase") == phase]

    # -- the probe ------------------------------------------------------------------------------
    def start_probe(self, seconds: int = PROBE_SECONDS) -> str:
        self.call("PATCH", f"/dags/{PROBE}", json={"is_paused": False})
        return self.call("POST", f"/dags/{PROBE}/dagRuns", json={"logical_date": None,
                                                                  "conf": {"seconds": seconds}})["dag_run_id"]

    def task_states(self, run_id: str, dag_id: str = PROBE) -> dict[str, dict]:
        tasks = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {task["task_id"]: task for task in tasks}

    def wait_in_flight(self, run_id: str, timeout: float = 240) -> dict[str, dict]:
        """Until the team pod's task and the Celery task run and the sensor is deferred."""
        wanted = {"in_team_pod": "running", "on_celery": "running", "deferred": "deferred"}
        deadline = time.monotonic() + timeout
        while True:
            states = self.task_states(run_id)
            if all(states.get(task, {}).get("state") == state for task, state in wanted.items()):
                return states
            assert time.monotonic() < deadline, {task: states.get(task, {}).get("state") for task in wanted}
            time.sleep(2)

    def wait_run(self, run_id: str, dag_id: str = PROBE, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['state']} after {timeout:.0f} s"
            time.sleep(3)

    def log(self, run_id: str, task: dict, dag_id: str = PROBE) -> str:
        from repo_tools.airflow_api import log_text

        return log_text(self.api().task_log_body(dag_id, run_id, task))


@dataclass
class Outcome:
    """What one scenario measured: the fault table's row."""
    fault: str
    what_happens: str = ""
    recovery_seconds: Optional[float] = None
    reruns: int = 0
    lost: str = "0"
    notes: list[str] = field(default_factory=list)


OUTCOMES: list[Outcome] = []


@pytest.fixture(scope="session")
def fault_lab(real_node, tools_env, tmp_path_factory):
    project = deploy(real_node, tools_env, tmp_path_factory.mktemp("faults"), STACK, stack_config(NAMESPACE))
    outputs = json.loads(project.pulumi("stack", "output", "--json", "--show-secrets", "--stack", STACK).stdout)
    lab = FaultLab(real_node, project, outputs)
    lab.call("POST", "/connections", json=CONNECTION)
    lab.call("POST", "/variables", json=VARIABLE)
    lab.call("POST", "/pools", json=POOL)
    lab.api().wait_for_dags({PROBE, "kit_fault_oom"})
    yield lab
    project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False, timeout=900)


def pytest_terminal_summary(terminalreporter):
    if OUTCOMES:
        terminalreporter.section("airflow-kit fault table")
        terminalreporter.write_line("| fault | what happens | seconds to recovery | reruns | work lost |")
        terminalreporter.write_line("| --- | --- | --- | --- | --- |")
        for row in OUTCOMES:
            seconds = "-" if row.recovery_seconds is None else f"{row.recovery_seconds:.0f}"
            terminalreporter.write_line(f"| {row.fault} | {row.what_happens} | {seconds} | {row.reruns} | {row.lost} |")


Inject = Callable[[FaultLab, str], Outcome]
