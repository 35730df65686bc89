"""What the fault tier (tests/faults) drives: the session's `local-node` stack on its real node
(after the main job's tests), the probe DAG's runs, and the faults themselves (a process
SIGKILLed from the host, a pod deleted, the node rebooted), with the fault table each scenario
adds a row to."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any, Optional

import requests

from repo_tools.airflow_api import AirflowApi
from tests.support.real_node import NAMESPACE, RealNode

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
    # The postmaster (its backends are titled "postgres: ..."): killing it takes the server down.
    "postgres": ("app.kubernetes.io/name=postgresql", "postgresql", r"^postgres -D "),
    "dag-processor": ("component=dag-processor", "dag-processor", r"airflow dag-processor"),
}


class FaultLab:
    """The deployed stack and what a scenario does to it."""

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

    def container_states(self, *components: str) -> dict[str, object]:
        """Pod -> each container's restarts, state and last state: what a failed wait shows."""
        return {pod["metadata"]["name"]: [
                    (status["name"], status.get("restartCount"), status.get("state"), status.get("lastState"))
                    for status in pod["status"].get("containerStatuses") or []]
                for component in components for pod in self.pods(component)}

    def ready(self, component: str, count: Optional[int] = None) -> bool:
        """Every live pod of the component Ready (and exactly `count` of them: a rollout is over)."""
        pods = [pod for pod in self.pods(component) if not pod["metadata"].get("deletionTimestamp")]
        return bool(pods) and count in (None, len(pods)) and all(
            status.get("ready") for pod in pods for status in pod["status"].get("containerStatuses") or [])

    def wait_ready(self, *components: str, count: Optional[int] = None, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.ready(component, count) for component in components):
            assert time.monotonic() < deadline, f"{components} not Ready after {timeout:.0f} s"
            time.sleep(2)

    def kill(self, component: str, pod: Optional[dict] = None) -> int:
        """SIGKILL, from the host, of the component's main process (no graceful shutdown)."""
        _, container, pattern = COMPONENTS[component]
        pod = pod or self.pods(component)[0]
        status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)
        pids = self.node.container_pids(status["containerID"].split("://", 1)[1])
        matching = {pid for pid in pids if re.search(pattern, _cmdline(pid) or "")}
        # The main process, not one of its children whose command line matches too (the Celery
        # worker's log server): the one whose parent does not match. Killing a child restarts nothing.
        main = sorted(pid for pid in matching if _parent(pid) not in matching)
        if not main:
            raise AssertionError(f"no process matching {pattern!r} in {component}: pids {pids}")
        os.kill(main[0], signal.SIGKILL)
        return main[0]

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


OUTCOMES: list[Outcome] = []


def _cmdline(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def _parent(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
