"""Airflow 3's REST API as a user calls it: a token from /auth/token, then /api/v2.

Used by `make dag` (trigger a DAG and follow its run) and by the real-node tier.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests

FINISHED_RUN_STATES = ("success", "failed")
READ_ATTEMPTS = 3  # a GET that timed out is asked again (it changes nothing)


class AirflowApiError(Exception):
    """The API answered with an error, or never answered: one line for the user."""


class AirflowApi:
    def __init__(self, base: str, user: str, password: str, *, wait_seconds: float = 300):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        deadline = time.monotonic() + wait_seconds
        last = "no answer"
        while True:  # the API server may still be starting
            try:
                response = self.session.post(f"{self.base}/auth/token",
                                             json={"username": user, "password": password}, timeout=10)
                if response.status_code in (200, 201):
                    break
                last = f"HTTP {response.status_code} {response.text[:200]}"
                if response.status_code in (401, 403):
                    raise AirflowApiError(f"{self.base}/auth/token refused user {user!r}: {last}")
            except requests.RequestException as error:
                last = type(error).__name__
            if time.monotonic() >= deadline:
                raise AirflowApiError(f"no token from {self.base}/auth/token after {wait_seconds:.0f} s ({last})")
            time.sleep(2)
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs) -> Any:
        # A read may be retried: on the 2-core machine running both test lanes, the real node's API
        # server once took over 30 s to answer a run's state (it answered the next poll).
        attempts = READ_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs)
                break
            except requests.Timeout:
                if attempt == attempts:
                    raise
                time.sleep(2)
        if not response.ok:
            raise AirflowApiError(f"{method} /api/v2{path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 300) -> None:
        """Until the dag-processor has parsed every one of `dag_ids` (fails naming the missing ones)."""
        deadline = time.monotonic() + timeout
        while True:
            listed = {dag["dag_id"] for dag in self.call("GET", "/dags", params={"limit": 1000})["dags"]}
            if dag_ids <= listed:
                return
            if time.monotonic() >= deadline:
                errors = self.call("GET", "/importErrors")
                raise AirflowApiError(f"DAGs not parsed after {timeout:.0f} s: {sorted(dag_ids - listed)}; "
                                      f"import errors: {errors.get('total_entries', 0)}")
            time.sleep(3)

    def trigger(self, dag_id: str) -> str:
        """Unpause `dag_id` and start a run now; the run's id."""
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900,
                     progress: Optional[Callable[[dict], None]] = None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if progress:
                progress(run)
            if run["state"] in FINISHED_RUN_STATES or time.monotonic() >= deadline:
                return run
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log_body(self, dag_id: str, run_id: str, task: dict) -> Any:
        """A task try's log as the API answers it; a one-line stand-in when it cannot."""
        params: dict[str, Any] = {"full_content": "true"}
        if task.get("map_index", -1) >= 0:
            params["map_index"] = task["map_index"]
        response = self.session.get(
            f"{self.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task['task_id']}/logs/"
            f"{max(task.get('try_number') or 1, 1)}", params=params, timeout=30,
            headers={"Accept": "application/json"})
        if not response.ok:
            return {"content": f"(log unavailable: HTTP {response.status_code} {response.text[:200]})"}
        return response.json()


def log_text(body: Any) -> str:
    """A log answer as text; an error line carries its exception (type, message, where raised)."""
    content = body.get("content") if isinstance(body, dict) else body
    if isinstance(content, list):
        return "\n".join(_log_line(line) if isinstance(line, dict) else str(line) for line in content)
    return str(content)


def _exceptions(line: dict) -> list[dict]:
    # Airflow 3 keeps the exception out of `event` ("Task failed with exception"), in
    # `error_detail`: structlog's exception dicts, outermost cause first.
    return [error for error in line.get("error_detail") or [] if isinstance(error, dict)]


def _exception_text(error: dict) -> str:
    return f"{error.get('exc_type', 'Exception')}: {error.get('exc_value', '')}"


def _log_line(line: dict) -> str:
    text = [str(line.get("event", ""))]
    for error in _exceptions(line):
        text.append(f"  {_exception_text(error)}")
        frames = error.get("frames") or []
        if frames and isinstance(frames[-1], dict):
            frame = frames[-1]
            text.append(f"    at {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
    return "\n".join(text)


def log_errors(body: Any) -> list[str]:
    """Each exception of a log answer as `Type: message`, in the order logged."""
    content = body.get("content") if isinstance(body, dict) else body
    if not isinstance(content, list):
        return []
    return [_exception_text(error) for line in content if isinstance(line, dict) for error in _exceptions(line)]


@dataclass
class TaskSummary:
    task_id: str
    state: Optional[str]
    executor: str
    seconds: Optional[float]

    @classmethod
    def of(cls, task: dict) -> "TaskSummary":
        return cls(task["task_id"] + (f"[{task['map_index']}]" if task.get("map_index", -1) >= 0 else ""),
                   task.get("state"), task.get("executor") or "default", task.get("duration"))
