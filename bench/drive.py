"""Drive one run: submit the tasks as Airflow does, watch every pod, feed node usage, sample quotas.

Times are the harness's own clock (monotonic seconds from the first submission): a pod is
created when its POST returns (or the watch shows it first) and bound when the watch first
shows its `nodeName`. Finished pods (kwok ends them after their runtime) are deleted, as the
KubernetesExecutor deletes its worker pods.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import requests

from airflow_kit_platform.quantities import parse_quantity
from bench import workload
from bench.cluster import Api, Run


@dataclass
class PodRecord:
    team: str
    cpu: float
    size: str
    created: Optional[float] = None
    bound: Optional[float] = None
    node: Optional[str] = None
    finished: Optional[float] = None


@dataclass
class Recording:
    pods: dict[str, PodRecord] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)  # per second: team -> bound cpu, pending
    refused: int = 0  # creations the API server refused (ResourceQuota), retried next loop
    ended: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    late_team_first_created: Optional[float] = None


def request(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """One API call, retried when the server drops a kept-alive connection under load."""
    for attempt in range(5):
        try:
            return session.request(method, url, timeout=60, **kwargs)
        except requests.ConnectionError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


USAGE_STORED_AFTER = 3.0  # seconds: the scheduler stores a fetch after its last node, read at the next session


class UsageSource(http.server.ThreadingHTTPServer):
    """What Volcano's usage plugin reads: Prometheus' query API answering its node queries
    (cpu: `...node_cpu_seconds_total{mode="idle",instance="<node>"}...`, memory:
    `...node_memory_MemAvailable_bytes{instance="<node>"}...`) with the usage node agents report."""

    def __init__(self, usage: dict[str, tuple[float, float]]):
        self.usage = usage
        self.queries = 0
        self.answered: set[str] = set()  # nodes whose usage the scheduler has asked for
        super().__init__(("127.0.0.1", 0), _PrometheusHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait_asked_for_every_node(self, timeout: float = 180.0) -> None:
        """Until Volcano has fetched every node's usage once: before that its usage plugin passes
        every node, hot or not, and the first tasks of a busy machine's run could land on hot nodes."""
        deadline = time.monotonic() + timeout
        while not self.answered >= set(self.usage):
            if time.monotonic() > deadline:
                missing = sorted(set(self.usage) - self.answered)
                raise RuntimeError(f"Volcano did not ask for the usage of {len(missing)} node(s) in {timeout:.0f} s, "
                                   f"e.g. {missing[:3]}")
            time.sleep(0.2)
        time.sleep(USAGE_STORED_AFTER)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _PrometheusHandler(http.server.BaseHTTPRequestHandler):
    def _answer(self, query: str) -> None:
        server: UsageSource = self.server  # type: ignore[assignment]
        server.queries += 1
        match = re.search(r'instance="([^"]+)"', query)
        instance = match.group(1) if match else ""
        if instance:
            server.answered.add(instance)
        cpu, memory = server.usage.get(instance, (0.0, 0.0))
        value = cpu if "node_cpu_seconds_total" in query else memory
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"instance": instance}, "value": [time.time(), f"{value:.1f}"]}]}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs, urlparse
        self._answer(parse_qs(urlparse(self.path).query).get("query", [""])[0])

    def do_POST(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs
        length = int(self.headers.get("Content-Length", 0))
        self._answer(parse_qs(self.rfile.read(length).decode()).get("query", [""])[0])

    def log_message(self, *args: Any) -> None:
        pass


HOT_CPU_PERCENT, COOL_CPU_PERCENT, MEMORY_PERCENT = 90.0, 20.0, 30.0
WAITING_AFTER = 10.0  # seconds


def node_usage(scale: workload.Scale) -> dict[str, tuple[float, float]]:
    """Per node, the (cpu %, memory %) its agent reports: hot nodes run someone else's load."""
    hot = workload.hot_nodes(scale)
    return {name: (HOT_CPU_PERCENT if name in hot else COOL_CPU_PERCENT, MEMORY_PERCENT)
            for name in workload.node_names(scale)}


class NodeMetricFeeder:
    """What koordlet does for Koordinator: one NodeMetric per node, its status (node usage and
    update time) refreshed every `interval` seconds."""

    def __init__(self, api: Api, scale: workload.Scale, interval: float = 60.0):
        self.api, self.interval = api, interval
        self.stopped = threading.Event()
        self.usage = node_usage(scale)
        self.allocatable = {node["metadata"]["name"]: node["status"]["allocatable"] for node in workload.kwok_nodes(scale)}
        self.refreshes = 0
        self._create()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _url(self, name: str = "") -> str:
        return f"{self.api.server}/apis/slo.koordinator.sh/v1alpha1/nodemetrics{'/' + name if name else ''}"

    def _create(self) -> None:
        session = self.api.session()

        def create(name: str) -> None:
            body = {"apiVersion": "slo.koordinator.sh/v1alpha1", "kind": "NodeMetric", "metadata": {"name": name},
                    "spec": {"metricCollectPolicy": {"reportIntervalSeconds": int(self.interval)}}}
            response = request(session, "POST", self._url(), json=body)
            if response.status_code not in (201, 409):
                raise RuntimeError(f"NodeMetric {name}: {response.status_code} {response.text[:200]}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, self.usage))
        self._refresh(session)

    def _refresh(self, session) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def patch(name: str) -> None:
            cpu_percent, memory_percent = self.usage[name]
            allocatable = self.allocatable[name]
            cores = float(allocatable["cpu"]) * cpu_percent / 100
            memory_gi = float(parse_quantity(allocatable["memory"])) / 2**30 * memory_percent / 100
            # Koordinator 1.8's ResourceMap: {resources: ResourceList, devices: [...]}.
            body = {"status": {"updateTime": now, "nodeMetric": {"nodeUsage": {"resources": {
                "cpu": f"{int(cores * 1000)}m", "memory": f"{int(memory_gi * 1024)}Mi"}}}}}
            response = request(session, "PATCH", self._url(name) + "/status", data=json.dumps(body),
                               headers={"Content-Type": "application/merge-patch+json"})
            if response.status_code != 200:
                raise RuntimeError(f"NodeMetric {name} status: {response.status_code} {response.text[:200]}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(patch, self.usage))
        self.refreshes += 1

    def _loop(self) -> None:
        session = self.api.session()
        while not self.stopped.wait(self.interval):
            self._refresh(session)

    def stop(self) -> None:
        self.stopped.set()


def watch_pods(api: Api, namespace: str, handle: Callable[[str, dict], None], stopped: threading.Event) -> None:
    """Every pod event of the namespace into `handle(type, pod)` until `stopped`: one watch,
    resumed from its last version after a dropped stream; when the server has expired that
    version, a relist (each pod handed over as MODIFIED) and a new watch from there."""
    session = api.session()
    base = f"{api.server}/api/v1/namespaces/{namespace}/pods"
    version = session.get(base, params={"limit": 1}, timeout=60).json()["metadata"]["resourceVersion"]
    while not stopped.is_set():
        try:
            with session.get(base, params={"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                                           "timeoutSeconds": "60"}, stream=True, timeout=(10, 90)) as response:
                for line in response.iter_lines():
                    if stopped.is_set():
                        return
                    if not line:
                        continue
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        listed = session.get(base, timeout=120).json()
                        for pod in listed["items"]:
                            handle("MODIFIED", pod)
                        version = listed["metadata"]["resourceVersion"]
                        break
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        handle(event["type"], event["object"])
        except (requests.RequestException, ValueError):
            if stopped.is_set():
                return
            time.sleep(0.5)


class Watcher:
    """One watch on the run's namespace, keeping each pod's times and each team's bound cpu."""

    def __init__(self, run: Run, recording: Recording, origin: float):
        self.run, self.recording, self.origin = run, recording, origin
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.bound_cpu: dict[str, float] = {}
        self.unbound: dict[str, float] = {}  # pod -> when it was created
        self.to_delete: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.deleter = threading.Thread(target=self._delete_loop, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.deleter.start()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def created(self, name: str) -> None:
        with self.lock:
            self._mark_created(name, self.recording.pods[name])

    def _mark_created(self, name: str, record: PodRecord) -> None:
        """The first sign of the pod (its POST's answer or the watch), under the lock."""
        if record.created is None:
            record.created = self.now()
            self.unbound[name] = record.created

    def _event(self, kind: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        with self.lock:
            record = self.recording.pods.get(name)
            if record is None:
                return
            if kind != "DELETED":
                self._mark_created(name, record)
            node = pod["spec"].get("nodeName")
            if node and record.bound is None:
                record.bound, record.node = self.now(), node
                self.bound_cpu[record.team] = self.bound_cpu.get(record.team, 0.0) + record.cpu
                self.unbound.pop(name, None)
            phase = pod.get("status", {}).get("phase")
            if record.bound is not None and record.finished is None and (
                    phase in ("Succeeded", "Failed") or kind == "DELETED"):
                record.finished = self.now()
                self.bound_cpu[record.team] -= record.cpu
                if kind != "DELETED":
                    self.to_delete.append(name)

    def _loop(self) -> None:
        watch_pods(self.run.api, self.run.namespace, self._event, self.stopped)

    def _delete_loop(self) -> None:
        session = self.run.api.session()
        base = f"{self.run.api.server}/api/v1/namespaces/{self.run.namespace}/pods"
        while not self.stopped.is_set():
            with self.lock:
                batch, self.to_delete = self.to_delete, []
            for name in batch:
                try:
                    request(session, "DELETE", f"{base}/{name}", json={"gracePeriodSeconds": 0})
                except requests.ConnectionError:
                    with self.lock:
                        self.to_delete.append(name)  # next round
            if not batch:
                time.sleep(0.2)

    def sample(self) -> dict[str, Any]:
        """Each team's bound cpu, pending pods, and pods waiting longer than WAITING_AFTER (a
        scheduler's ordinary latency is not a team being held back)."""
        with self.lock:
            now = self.now()
            pending: dict[str, int] = {}
            waiting: dict[str, int] = {}
            for name, created in self.unbound.items():
                team = self.recording.pods[name].team
                pending[team] = pending.get(team, 0) + 1
                if now - created > WAITING_AFTER:
                    waiting[team] = waiting.get(team, 0) + 1
            return {"t": round(now, 2), "bound_cpu": dict(self.bound_cpu), "pending": pending, "waiting": waiting}

    def stop(self) -> None:
        self.stopped.set()


def drive(run: Run, timeout: float) -> Recording:
    """Submit every task, wait until every one was bound (or `timeout`), return what was seen."""
    scale = run.scale
    tree = workload.teams(scale)
    tasks = workload.tasks(scale, tree)
    late = workload.late_team(tree)
    recording = Recording()
    for task in tasks:
        recording.pods[task.name] = PodRecord(task.team, float(task.size.cpu), task.size.name)
    pids = run.pids()
    cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    harness_before = sum(os.times()[:2])
    origin = time.monotonic()
    watcher = Watcher(run, recording, origin)
    watcher.start()
    time.sleep(1)
    stop_sampling = threading.Event()

    def sample_loop() -> None:
        while not stop_sampling.wait(1.0):
            recording.samples.append(watcher.sample())

    sampler = threading.Thread(target=sample_loop, daemon=True)
    sampler.start()
    base = f"{run.api.server}/api/v1/namespaces/{run.namespace}/pods"
    sessions = [run.api.session() for _ in range(scale.submitters)]
    # Each submitter's task queue: the loop's new tasks join it and it creates at most `batch`
    # per loop; a creation the API server refuses (ResourceQuota) goes back to its end, as the
    # KubernetesExecutor re-queues it (task_publish_max_retries).
    queues: list[list[workload.Task]] = [[] for _ in range(scale.submitters)]

    def submit(index: int, items: list[workload.Task]) -> None:
        session, queue = sessions[index], queues[index]
        queue.extend(items)
        batch, queue[:] = queue[:scale.batch], queue[scale.batch:]
        for task in batch:
            pod = workload.task_pod(run.templates[task.team], task, run.namespace)
            response = request(session, "POST", base, json=pod)
            if response.status_code == 201:
                watcher.created(task.name)
            elif response.status_code == 403 and "exceeded quota" in response.text:
                with watcher.lock:
                    recording.refused += 1
                queue.append(task)
            elif response.status_code != 409:
                raise RuntimeError(f"creating {task.name}: {response.status_code} {response.text[:300]}")

    start = time.monotonic()
    with ThreadPoolExecutor(scale.submitters) as pool:
        loops = workload.loops(scale, tasks)
        number = 0
        while loops or any(queues):
            per_submitter = loops.pop(0) if loops else [[] for _ in range(scale.submitters)]
            if recording.late_team_first_created is None and any(t.team == late for part in per_submitter
                                                                 for t in part):
                recording.late_team_first_created = time.monotonic() - origin
            list(pool.map(submit, range(scale.submitters), per_submitter))
            number += 1
            delay = start + number * scale.loop_seconds - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() - origin > timeout:
                break
    deadline = origin + timeout
    while time.monotonic() < deadline:
        with watcher.lock:
            unbound = sum(1 for record in recording.pods.values() if record.bound is None)
        if unbound == 0:
            break
        for scheduler in run.schedulers:
            if not scheduler.alive():
                raise RuntimeError(f"{scheduler.name} exited:\n{scheduler.tail()}")
        time.sleep(1)
    recording.ended = time.monotonic() - origin
    stop_sampling.set()
    sampler.join()
    watcher.stop()
    recording.cpu_seconds = {name: process_cpu_seconds(pid) - cpu_before.get(name, 0.0) for name, pid in pids.items()}
    recording.cpu_seconds["bench harness"] = sum(os.times()[:2]) - harness_before
    return recording
