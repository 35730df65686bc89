"""The main job for real: `pulumi up` of the `local-node` stack with the REAL Airflow chart on a
real node, then the reference DAGs driven through Airflow's REST API, as a user would.

What a user sees go wrong here and nowhere else: a component that never becomes Ready (a wrong
image, Secret or ConfigMap name), a task pod that cannot start or cannot reach the Execution API,
a pod template that loses the team's resources or marks, a local disk that never binds, a log
that cannot be read once the task's pod is gone, a second `pulumi up` that wants to change
things, a destroy that leaves the release behind (test_destroy.py, after the fault tier).
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import pytest
import requests

from repo_tools.airflow_api import AirflowApi, log_errors, log_text
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.model.pod_security import TASK_SERVICE_ACCOUNT
from airflow_kit_platform.workloads.pod_templates import LOCAL_DISK_VOLUME, team_image
from airflow_kit_platform.workloads.worker_image import load_stack_settings
from tests.support.measurements import MEASURED
from tests.support.real_node import NAMESPACE, STACK
from tests.support.stacks import REPO


CONNECTION = {"connection_id": "kit_example_api", "conn_type": "http", "host": "api.example.com",
              "login": "svc-reader", "password": "not-printed-7c1d"}
VARIABLE = {"key": "kit_example_setting", "value": "42"}
# The reference DAGs the user triggers: Celery, KubernetesExecutor (team image, local disk),
# KubernetesPodOperator, a Connection and a Variable.
DAGS = ("kit_celery_pools", "kit_kubernetes_teams", "kit_pod_operator", "kit_connection_variable")
RUN_TIMEOUT = 900


@dataclass
class PodRecord:
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]
    phases: list[str] = field(default_factory=list)


class PodWatch:
    """Every pod created in the namespace while the DAGs run (task pods are deleted when done)."""

    def __init__(self, kubeconfig: str):
        from kubernetes import client, config, watch

        self.api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.watch = watch.Watch()
        self.pods: dict[str, PodRecord] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._follow()
        except Exception:  # the stream ends when stop() closes it
            pass

    def _follow(self) -> None:
        serializer = self.api.api_client.sanitize_for_serialization
        for event in self.watch.stream(self.api.list_namespaced_pod, NAMESPACE, timeout_seconds=3600):
            pod = serializer(event["object"])
            record = self.pods.setdefault(pod["metadata"]["name"], PodRecord(
                pod["metadata"]["name"], pod["metadata"].get("labels") or {}, pod["spec"]))
            phase = (pod.get("status") or {}).get("phase")
            if phase and (not record.phases or record.phases[-1] != phase):
                record.phases.append(phase)

    def start(self) -> "PodWatch":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.watch.stop()

    def for_task(self, dag_id: str, task_id: str) -> list[PodRecord]:
        return [p for p in self.pods.values()
                if p.labels.get("dag_id") == dag_id and p.labels.get("task_id") == task_id]


def _api(platform, real_node) -> AirflowApi:
    service = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "service", "airflow-api-server", "-o", "json").stdout)
    outputs = platform.outputs_with_secrets
    return AirflowApi(f"http://{service['spec']['clusterIP']}:8080", outputs["adminUser"], outputs["adminPassword"])


@pytest.fixture(scope="module")
def deployed(kit_stack):
    kit_stack.outputs_with_secrets = json.loads(kit_stack.pulumi(
        "stack", "output", "--json", "--show-secrets", "--stack", STACK).stdout)
    return kit_stack


def test_up_installs_the_real_chart_and_every_component_becomes_ready(deployed, real_node):
    workloads = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "deployments,statefulsets", "-o", "json").stdout)
    names = {item["metadata"]["name"]: item for item in workloads["items"]}
    expected = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                "airflow-worker", "airflow-postgresql", "airflow-redis"}
    assert expected <= set(names), f"missing components: {expected - set(names)}"
    not_ready = {name: item["status"] for name, item in names.items()
                 if (item["status"].get("readyReplicas") or 0) < item["spec"]["replicas"]}
    assert not not_ready, f"components not Ready after pulumi up: {not_ready}"
    images = {c["image"] for item in names.values() for c in item["spec"]["template"]["spec"]["containers"]}
    assert all(image.startswith("localhost/airflow-kit/") for image in images), images
    jobs = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "jobs", "-o", "json").stdout)["items"]
    assert jobs and all((job["status"].get("succeeded") or 0) >= 1 for job in jobs), \
        [(job["metadata"]["name"], job["status"]) for job in jobs]
    created = sum(1 for line in deployed.up_result.stdout.splitlines() if "created" in line and "+ " in line)
    MEASURED["real node: pulumi up of local-node with the real chart, all Ready"] = (
        f"{deployed.up_seconds:.0f} s ({len(names)} workloads, {len(jobs)} jobs)")


def test_reference_dags_run_to_success_through_the_api(deployed, real_node):
    settings = load_stack_settings(STACK)
    team = settings.teams.leaves()[0]
    api = _api(deployed, real_node)
    pods = PodWatch(real_node.kubeconfig).start()
    try:
        api.session.delete(f"{api.base}/api/v2/connections/{CONNECTION['connection_id']}", timeout=30)
        api.session.delete(f"{api.base}/api/v2/variables/{VARIABLE['key']}", timeout=30)
        api.call("POST", "/connections", json=CONNECTION)
        api.call("POST", "/variables", json=VARIABLE)
        deadline = time.monotonic() + 300
        while True:  # the dag-processor parses the image's DAGs
            listed = {dag["dag_id"] for dag in api.call("GET", "/dags", params={"limit": 100})["dags"]}
            if set(DAGS) <= listed:
                break
            assert time.monotonic() < deadline, f"DAGs not parsed: {set(DAGS) - listed}"
            time.sleep(3)
        errors = api.call("GET", "/importErrors")
        assert errors["total_entries"] == 0, errors

        runs = {}
        for dag_id in DAGS:
            api.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            run = api.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
            runs[dag_id] = run["dag_run_id"]
        finished: dict[str, dict] = {}
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(finished) < len(runs) and time.monotonic() < deadline:
            for dag_id, run_id in runs.items():
                if dag_id in finished:
                    continue
                run = api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
                if run["state"] in ("success", "failed"):
                    finished[dag_id] = run
            time.sleep(3)

        report, failures = [], []
        for dag_id, run_id in runs.items():
            run = finished.get(dag_id) or api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            report.append(f"{dag_id}: run {run['state']}, trigger to end {_seconds(run.get('run_after'), run.get('end_date'))}")
            instances = api.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
            for ti in instances:
                log = api.session.get(
                    f"{api.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/"
                    f"{max(ti['try_number'], 1)}", timeout=30,
                    params={"full_content": "true", **({"map_index": ti["map_index"]} if ti["map_index"] >= 0 else {})})
                task_pods = pods.for_task(dag_id, ti["task_id"])
                report.append(f"  {dag_id}.{ti['task_id']}: {ti['state']} on {ti.get('executor') or 'default'}, "
                              f"{len(task_pods)} pod(s), {_duration(ti)}")
                ti["log"] = _log_text(log)
                if ti["state"] != "success":
                    failures.append(f"{dag_id}.{ti['task_id']} {ti['state']}:\n{ti['log'][-3000:]}")
                ti["pods"] = task_pods
            finished[dag_id] = {"state": run["state"], "tis": {ti["task_id"]: ti for ti in instances}}
        MEASURED["real node: reference DAG tasks (state, executor, pods, queued -> end)"] = "\n  " + "\n  ".join(report)
        assert not failures, "\n\n".join(failures)
        unreadable = [f"{dag_id}.{task_id}: {ti['log'][:200]}" for dag_id, run in finished.items()
                      for task_id, ti in run["tis"].items() if ti["log"].startswith("<log not readable")]
        assert not unreadable, unreadable
        assert all(finished[dag]["state"] == "success" for dag in DAGS), {d: finished[d]["state"] for d in DAGS}

        # Celery: no pod of its own; the log came back through the API from the worker.
        celery = finished["kit_celery_pools"]["tis"]
        assert celery and all(not ti["pods"] for ti in celery.values())
        for task_id, ti in celery.items():
            assert f"task_id={task_id}" in ti["log"] and "Done. Returned value was" in ti["log"], ti["log"][-2000:]

        # KubernetesExecutor in the team's fused image: exactly one pod, the team's resources and marks.
        teams_run = finished["kit_kubernetes_teams"]["tis"]
        crunch = teams_run[f"crunch_{team.name}"]
        (pod,) = crunch["pods"]
        base = pod.spec["containers"][0]
        assert base["image"] == team_image(settings, team)  # the fused image: <business>-airflow-<pinned version>
        assert base["image"].endswith(f"-airflow-{settings.airflow.version}")
        assert base["resources"] == team.task_resources.as_k8s()
        assert pod.spec.get("schedulerName", "default-scheduler") == settings.scheduler.scheduler_name
        marks = scheduling_plan(settings).pod_marks[team.name]
        assert pod.spec.get("priorityClassName") == marks.priority_class_name  # the team's own, in this stack
        assert marks.labels.items() <= pod.labels.items(), (marks.labels, pod.labels)
        assert "Succeeded" in pod.phases
        assert f"team {team.name} on" in crunch["log"], crunch["log"][-2000:]

        # Local disk: one generic ephemeral volume of the stack's WaitForFirstConsumer class.
        disk = teams_run["local_disk_io"]
        (disk_pod,) = disk["pods"]
        (volume,) = [v for v in disk_pod.spec["volumes"] if v["name"] == LOCAL_DISK_VOLUME]
        claim = volume["ephemeral"]["volumeClaimTemplate"]["spec"]
        assert claim["storageClassName"] == settings.local_disk.storage_class
        assert "Succeeded" in disk_pod.phases

        # KubernetesPodOperator: the task runs on Celery, the business pod is the only pod.
        operator = finished["kit_pod_operator"]["tis"]["business_pod"]
        assert len(operator["pods"]) == 1 and operator["pods"][0].spec["containers"][0]["image"] == team_image(settings, team)
        assert "business code on" in operator["log"], operator["log"][-2000:]

        # Connection and Variable through the Execution API, on Celery and in the team's pod.
        reads = finished["kit_connection_variable"]["tis"]
        for task_id in ("on_default_executor", "in_team_pod"):
            assert f"host={CONNECTION['host']}" in reads[task_id]["log"], reads[task_id]["log"][-2000:]
            assert f"{VARIABLE['key']}={VARIABLE['value']}" in reads[task_id]["log"]
            assert CONNECTION["password"] not in reads[task_id]["log"]
        assert len(reads["in_team_pod"]["pods"]) == 1
        # The team pod is gone (the executor deletes it shortly after the task ends) and its log
        # is still read, from the logs volume.
        deadline = time.monotonic() + 120
        while left := real_node.kubectl("-n", NAMESPACE, "get", "pods", "-l", "dag_id=kit_connection_variable",
                                        "-o", "name").stdout.split():
            assert time.monotonic() < deadline, f"task pods not deleted: {left}"
            time.sleep(2)
        after = api.session.get(
            f"{api.base}/api/v2/dags/kit_connection_variable/dagRuns/{runs['kit_connection_variable']}"
            f"/taskInstances/in_team_pod/logs/1", params={"full_content": "true"}, timeout=30)
        assert f"{VARIABLE['key']}={VARIABLE['value']}" in _log_text(after)
    finally:
        pods.stop()


def test_a_failed_task_says_why(deployed, real_node):
    """`make dag` prints the exception of a failed task, not just "Task failed with exception"."""
    api = _api(deployed, real_node)
    api.session.delete(f"{api.base}/api/v2/connections/{CONNECTION['connection_id']}", timeout=30)
    run_id = api.trigger("kit_connection_variable")
    run = api.wait_for_run("kit_connection_variable", run_id, timeout=RUN_TIMEOUT)
    assert run["state"] == "failed", run
    (task,) = [ti for ti in api.task_instances("kit_connection_variable", run_id) if ti["task_id"] == "on_default_executor"]
    body = api.task_log_body("kit_connection_variable", run_id, task)
    errors = log_errors(body)
    assert any(error.startswith("AirflowNotFoundException:") and CONNECTION["connection_id"] in error
               for error in errors), (errors, log_text(body)[-2000:])
    assert errors[-1] in log_text(body)


def test_a_team_task_cannot_reach_the_cluster(deployed, real_node, tmp_path):
    """kit_least_privilege, a team task, tries to read Airflow's metadata Secret, start a pod and
    exec into the scheduler from inside its pod: each refused; its TCP connections to Postgres and
    Redis are dropped by the node's NetworkPolicy enforcer while its Execution API calls work (it
    still reads its Variable and finishes). Then the same facts from the API server: the task
    account may do nothing, and the stack's namespace refuses a privileged pod (Pod Security
    `baseline`)."""
    api = _api(deployed, real_node)
    api.session.delete(f"{api.base}/api/v2/connections/{CONNECTION['connection_id']}", timeout=30)
    api.call("POST", "/connections", json=CONNECTION)  # test_a_failed_task_says_why removed it
    run_id = api.trigger("kit_least_privilege")
    run = api.wait_for_run("kit_least_privilege", run_id, timeout=RUN_TIMEOUT)
    tasks = {task["task_id"]: task for task in api.task_instances("kit_least_privilege", run_id)}
    log = log_text(api.task_log_body("kit_least_privilege", run_id, tasks["in_team_pod"]))
    celery_log = log_text(api.task_log_body("kit_least_privilege", run_id, tasks["in_celery_worker"]))
    assert run["state"] == "success", (log[-3000:], celery_log[-3000:])
    assert "service account token mounted: False" in log, log[-3000:]
    answers = {}
    for attempt in ("read Secret airflow-metadata", "list Secrets", "create a pod", "exec into the scheduler"):
        assert f"{attempt}: HTTP 401" in log or f"{attempt}: HTTP 403" in log, (attempt, log[-3000:])
        answers[attempt] = 401 if f"{attempt}: HTTP 401" in log else 403
    MEASURED["real node: a team task's attempts on the cluster (HTTP status)"] = str(answers)
    assert f"connection {CONNECTION['connection_id']} host={CONNECTION['host']}" in log, log[-3000:]
    tcp = dict(re.findall(r"TCP to ([a-z ]+) \([^)]*\): (\S+)", log))
    assert tcp.get("metadata database") == "refused" and tcp.get("redis") == "refused", (tcp, log[-3000:])
    assert "connected" not in tcp.values(), tcp
    MEASURED["real node: a team task's TCP to Airflow's backends (NetworkPolicy)"] = str(tcp)
    # The Celery task holds the worker's token (launcher rights for KubernetesPodOperator): the
    # kit's launch guard refuses every use of it against Airflow, the operator's shape passes.
    worker = dict(re.findall(r"^.*?((?:read|launch|exec|change|delete)[^:\n]*): HTTP (\d+)", celery_log, re.MULTILINE))
    assert {"launch a pod mounting the metadata Secret", "exec into the scheduler", "change the scheduler's image",
            "delete the scheduler", "launch a pod as the scheduler's account"} <= set(worker), celery_log[-3000:]
    refused = {what: status for what, status in worker.items() if "KubernetesPodOperator" not in what}
    assert set(refused.values()) <= {"401", "403"}, refused
    assert worker["launch a pod of KubernetesPodOperator's shape"] == "201", celery_log[-3000:]
    MEASURED["real node: a Celery task's attempts with the worker's account (HTTP status)"] = str(worker)

    account = f"system:serviceaccount:{NAMESPACE}:{TASK_SERVICE_ACCOUNT}"
    for verb, resource in (("get", "secrets"), ("list", "pods"), ("create", "pods"), ("create", "pods/exec")):
        answer = real_node.kubectl("auth", "can-i", verb, resource, "-n", NAMESPACE, "--as", account, check=False)
        assert answer.stdout.strip() == "no", (verb, resource, answer.stdout, answer.stderr)

    labels = json.loads(real_node.kubectl("get", "namespace", NAMESPACE, "-o", "json").stdout)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline", labels
    privileged = tmp_path / "privileged.json"
    privileged.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kit-privileged", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "localhost/airflow-kit/redis:7",
                                 "securityContext": {"privileged": True}}]}}))
    refused = real_node.kubectl("create", "--dry-run=server", "-f", str(privileged), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stdout + refused.stderr


def test_celery_workers_run_tasks_without_database_credentials(deployed, real_node):
    """The running Celery worker's process has no database URL and no Fernet key in its
    environment (the kit's transform on the chart), its Celery results go to Redis, and yet its
    tasks ran above: kit_connection_variable's Celery task read its Connection and Variable
    through the Execution API (test_reference_dags_run_to_success_through_the_api)."""
    from airflow_kit_platform.airflow.worker_secrets import WORKER_DROPPED_ENV

    host = real_node.pod_host(NAMESPACE, "component=worker", "worker")
    environment = dict(line.split("=", 1) for line in host.check_output("env").splitlines() if "=" in line)
    held = sorted(set(WORKER_DROPPED_ENV) & set(environment))
    assert not held, f"the Celery worker holds {held}"
    assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("redis://")
    assert "postgres" not in environment["AIRFLOW__CELERY__RESULT_BACKEND"]
    MEASURED["real node: the Celery worker's env"] = (f"none of {', '.join(WORKER_DROPPED_ENV)}; results in "
                                                     f"{environment['AIRFLOW__CELERY__RESULT_BACKEND'].split('@')[-1]}")


def test_airflow_connects_to_the_bundled_database_as_its_owner_not_the_superuser(deployed, real_node):
    """local-node's bundled Postgres: Airflow's connection (Secret airflow-metadata) names the
    kit's `airflow` user and database, which Postgres says is no superuser and may create neither
    roles nor databases; Airflow migrated and ran every DAG above with it."""
    from urllib.parse import urlsplit

    secret = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "secret", "airflow-metadata", "-o", "json").stdout)
    connection = urlsplit(base64.b64decode(secret["data"]["connection"]).decode())
    assert (connection.username, connection.path) == ("airflow", "/airflow"), (connection.username, connection.path)
    local = connection._replace(netloc=f"{connection.username}:{connection.password}@127.0.0.1:5432").geturl()
    host = real_node.pod_host(NAMESPACE, "app.kubernetes.io/name=postgresql", "postgresql")
    rights = host.check_output("psql %s -tAc %s", local, "select current_user, rolsuper, rolcreaterole, rolcreatedb "
                               "from pg_roles where rolname = current_user").strip()
    assert rights == "airflow|f|f|f", rights
    MEASURED["real node: Airflow's database user (name|superuser|createrole|createdb)"] = rights


HELPER_PROBE = ("import importlib.metadata, os, airflow_kit; "
                "print(airflow_kit.__file__, importlib.metadata.version('airflow-kit-dags'), "
                "sorted(os.listdir('/opt/airflow/dags')))")


def test_the_dag_helper_is_installed_in_every_image(deployed, real_node, tmp_path):
    """airflow_kit comes from the installed distribution airflow-kit-dags in the Airflow image (every
    chart component) and in the team's fused worker image, not from the dags folder (which holds
    the reference DAGs only; they parsed and ran above, importing it)."""
    settings = load_stack_settings(STACK)
    team = settings.teams.leaves()[0]
    seen = {}
    for component, container in (("dag-processor", "dag-processor"), ("scheduler", "scheduler")):
        host = real_node.pod_host(NAMESPACE, f"component={component}", container)
        seen[f"deployment/airflow-{component}"] = host.check_output("python -c %s", HELPER_PROBE).strip()
    image = team_image(settings, team)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kit-helper-probe", "namespace": NAMESPACE},
           "spec": {"restartPolicy": "Never", "securityContext": {"runAsUser": 50000, "fsGroup": 0},
                    "containers": [{"name": "base", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["python", "-c", HELPER_PROBE],
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"cpu": "100m", "memory": "128Mi"}}}]}}
    manifest = tmp_path / "probe.json"
    manifest.write_text(json.dumps(pod))
    real_node.kubectl("apply", "-f", str(manifest))
    try:
        real_node.kubectl("-n", NAMESPACE, "wait", "pod/kit-helper-probe", "--for=jsonpath={.status.phase}=Succeeded",
                          "--timeout=180s")
        seen[f"pod from {image}"] = real_node.kubectl("-n", NAMESPACE, "logs", "pod/kit-helper-probe").stdout.strip()
    finally:
        real_node.kubectl("-n", NAMESPACE, "delete", "pod", "kit-helper-probe", "--wait=false", check=False)
    MEASURED["real node: the DAG helper in the images (airflow_kit.__file__, version, dags folder)"] = (
        "\n  " + "\n  ".join(f"{where}: {line}" for where, line in seen.items()))
    for where, line in seen.items():
        path, version, dags = line.split(" ", 2)
        assert "/site-packages/airflow_kit/" in path or "/dist-packages/airflow_kit/" in path, (where, line)
        assert not path.startswith("/opt/airflow/dags"), (where, line)
        assert version == importlib.metadata.version("airflow-kit-dags") and "airflow_kit" not in dags and "kit_kubernetes_teams.py" in dags, (where, line)


def test_the_live_cluster_checks_pass_on_the_kit_node(deployed, real_node, tools_env):
    """The live-cluster tier (tests/infra, testinfra's kubectl:// backend) against the deployed node:
    it must run every check, none skipped."""
    env = {**tools_env, "KUBECONFIG": real_node.kubeconfig, "AIRFLOW_KIT_STACK": STACK}
    env.pop("AIRFLOW_KIT_E2E_KUBECONFIG", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "infra",
                             str(REPO / "tests" / "infra")], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    MEASURED["real node: tests/infra against the deployed local-node stack"] = summary
    assert result.returncode == 0 and "passed" in summary and "skipped" not in summary, result.stdout[-3000:]


def _log_text(response: requests.Response) -> str:
    """The task log the API returns (structured lines in Airflow 3) as plain text."""
    if not response.ok:
        return f"<log not readable: {response.status_code} {response.text[:300]}>"
    content = response.json().get("content")
    if isinstance(content, list):
        return "\n".join(item.get("event", "") + " " + json.dumps(item, default=str)
                         if isinstance(item, dict) else str(item) for item in content)
    return str(content)


def _instant(value: Optional[str]) -> Optional[datetime]:
    """An API timestamp (ISO 8601, `Z` for UTC)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(start: Optional[str], end: Optional[str]) -> str:
    if not (start and end):
        return "-"
    return f"{(_instant(end) - _instant(start)).total_seconds():.0f} s"


def _duration(ti: dict) -> str:
    queued, start, end = _instant(ti.get("queued_when")), _instant(ti.get("start_date")), _instant(ti.get("end_date"))
    if not (start and end):
        return "not run"
    # A deferred task is queued again when its trigger fires: queued_when is then after start_date.
    waited = f"queued {((start - queued).total_seconds()):.0f} s, " if queued and queued <= start else ""
    return f"{waited}ran {(end - start).total_seconds():.0f} s"


def test_second_up_changes_nothing_and_generated_secrets_stay_encrypted(deployed, real_node):
    """The kit generated every secret on the first up (no provider plugin): a second up keeps
    them (no change) and none of them is readable in the state."""
    started = time.perf_counter()
    again = deployed.pulumi("up", "--yes", "--skip-preview", "--expect-no-changes", "--stack", STACK, check=False)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    state = deployed.state_text()
    secrets = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "secrets", "-o", "json").stdout)["items"]
    kit_secrets = [item for item in secrets
                   if (item["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "airflow-kit"]
    assert len(kit_secrets) >= 6, [item["metadata"]["name"] for item in kit_secrets]
    for item in kit_secrets:
        for key, encoded in item["data"].items():
            value = base64.b64decode(encoded).decode()
            assert value not in state, f"{item['metadata']['name']}/{key} is in plain text in the Pulumi state"
    assert deployed.outputs_with_secrets["adminPassword"] not in state
    MEASURED["real node: second pulumi up (no changes expected)"] = f"{time.perf_counter() - started:.0f} s"
