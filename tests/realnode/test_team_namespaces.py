"""Namespaces per team for real (`teamNamespaces`, what ACK needs): the `local-node` stack with
each team in its own namespace, on the real node with the real chart. A KubernetesExecutor task
of team `dev` must run in `<namespace>-dev` and succeed: that proves the pieces no schema can, the
executor's multi-namespace mode and its RBAC, the airflow.cfg copied from what the chart renders,
the pod templates and worker ServiceAccount in the team namespace, the Execution API reached
across namespaces, and the per-team ResourceQuota admitting the pod. Its logs volume is a shared
folder on the node (`logsVolume.source: hostPath`, as an NFS export would be on a cluster): the
task's log is read through the API after its pod in the team namespace is gone.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from repo_tools.airflow_api import AirflowApi, log_text
from tests.support.stacks import stack_file_config
from tests.support.charts import airflow_chart_package
from repo_tools.harness import PulumiProject
from repo_tools.local_cluster import NODE_STACK as STACK
from tests.support.measurements import MEASURED
from airflow_kit_platform.airflow.values import ORPHAN_CHECK_SECONDS
from airflow_kit_platform.model.pod_security import AIRFLOW_UID


NAMESPACE = "airflow-tn"  # not the main stack's: its retained objects stay out of the way
STACK_NAME = "local-node-team-ns"
OTHER_TEAM = "ops"


@pytest.fixture(scope="module")
def team_stack(real_node, tools_env, tmp_path_factory):
    config = stack_file_config(STACK)
    airflow = dict(config["airflow"])
    # The share every namespace's logs claim binds to; like an NFS export, writable by Airflow's user.
    share = tmp_path_factory.mktemp("logs-share")
    os.chown(share, AIRFLOW_UID, 0)
    share.chmod(0o775)
    airflow["logsVolume"] = {"source": {"hostPath": {"path": str(share), "type": "Directory"}},
                             "size": airflow["logsVolume"]["size"], "accessMode": airflow["logsVolume"]["accessMode"]}
    # KubernetesExecutor alone: the proof is about team pods; no Celery worker or Redis to wait for.
    airflow.update(chart={"path": str(airflow_chart_package())}, executors=["KubernetesExecutor"],
                   concurrency={**airflow["concurrency"], "parallelism": 10})
    # A second team, so a task of `dev` has another team's namespace to be refused in.
    other = {"name": OTHER_TEAM, "min": {"cpu": "100m", "memory": "256Mi"}, "max": {"cpu": "200m", "memory": "512Mi"},
             "taskResources": {"cpu": "100m", "memory": "256Mi"}, "poolSlots": 1}
    config.update(namespace=NAMESPACE, teamNamespaces=True, airflow=airflow, teams=[*config["teams"], other])
    project = PulumiProject(tmp_path_factory.mktemp("team-ns"), tools_env, real_node.kubeconfig, STACK_NAME, config)
    project.init({})
    started = time.perf_counter()
    project.pulumi("up", "--yes", "--skip-preview", "--stack", STACK_NAME, timeout=1800)
    project.up_seconds = time.perf_counter() - started
    yield project
    # Finished task pods go first (the scheduler deletes them): they hold their namespace's logs
    # claim, which destroy waits for, and the scheduler is gone once destroy starts.
    deadline = time.monotonic() + ORPHAN_CHECK_SECONDS + 120
    while time.monotonic() < deadline and any(real_node.pods(f"{NAMESPACE}-{team}", "kubernetes_executor=True")
                                              for team in ("dev", OTHER_TEAM)):
        time.sleep(3)
    project.pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK_NAME, check=False, timeout=900)


def test_a_team_task_runs_in_the_teams_namespace(team_stack, real_node):
    outputs = json.loads(team_stack.pulumi("stack", "output", "--json", "--show-secrets", "--stack",
                                           STACK_NAME).stdout)
    team_namespace = f"{NAMESPACE}-dev"
    assert outputs["taskNamespaces"] == [team_namespace, f"{NAMESPACE}-{OTHER_TEAM}"]
    config = json.loads(real_node.kubectl("-n", team_namespace, "get", "configmap", "airflow-config",
                                          "-o", "json").stdout)
    main_config = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "configmap", "airflow-config",
                                               "-o", "json").stdout)
    assert config["data"] == main_config["data"], "the team namespace's airflow.cfg is the chart's"
    assert not json.loads(real_node.kubectl("-n", team_namespace, "get", "secrets", "-o", "json").stdout)["items"]

    service = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "service", "airflow-api-server",
                                           "-o", "json").stdout)
    api = AirflowApi(f"http://{service['spec']['clusterIP']}:8080", outputs["adminUser"], outputs["adminPassword"])
    api.wait_for_dags({"kit_kubernetes_teams"})
    started = time.perf_counter()
    run_id = api.trigger("kit_kubernetes_teams")
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:  # task pods are deleted when done: note where they ran
        for namespace in (NAMESPACE, team_namespace):
            pods = json.loads(real_node.kubectl("-n", namespace, "get", "pods", "-l", "dag_id=kit_kubernetes_teams",
                                                "-o", "json").stdout)["items"]
            for pod in pods:
                seen[pod["metadata"]["labels"]["task_id"]] = namespace
        run = api.run("kit_kubernetes_teams", run_id)
        if run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    tasks = {ti["task_id"]: ti["state"] for ti in api.task_instances("kit_kubernetes_teams", run_id)}
    assert run["state"] == "success", tasks
    assert seen.get("crunch_dev") == team_namespace, seen
    assert seen.get("local_disk_io") == team_namespace, seen
    # The task's log after its pod is gone: read by the API server from the shared volume.
    deadline = time.monotonic() + 120
    while real_node.kubectl("-n", team_namespace, "get", "pods", "-l", "dag_id=kit_kubernetes_teams",
                            "-o", "name").stdout.strip():
        assert time.monotonic() < deadline, "the team's task pods were not deleted"
        time.sleep(2)
    (crunch,) = [ti for ti in api.task_instances("kit_kubernetes_teams", run_id) if ti["task_id"] == "crunch_dev"]
    log = log_text(api.task_log_body("kit_kubernetes_teams", run_id, crunch))
    assert "team dev on" in log, log[-2000:]
    MEASURED["real node: team namespaces (KubernetesExecutor tasks in airflow-tn-dev)"] = (
        f"pulumi up {team_stack.up_seconds:.0f} s; kit_kubernetes_teams {run['state']} in "
        f"{time.perf_counter() - started:.0f} s; tasks ran in {sorted(set(seen.values()))}")


def test_airflow_has_rights_in_the_team_namespaces_only(team_stack, real_node):
    """The executor ran the team's tasks above with Roles of the team namespace alone: no
    ClusterRoleBinding names an account of the stack, a Celery worker cannot create pods or exec
    in kube-system, and the team namespace enforces Pod Security `restricted` (its task pods
    were admitted under it)."""
    bindings = json.loads(real_node.kubectl("get", "clusterrolebindings", "-o", "json").stdout)["items"]
    ours = [item["metadata"]["name"] for item in bindings
            if any(subject.get("namespace") == NAMESPACE for subject in item.get("subjects") or [])]
    assert not ours, f"cluster-wide bindings of the stack's accounts: {ours}"
    team_namespace = f"{NAMESPACE}-dev"

    def can(account: str, verb: str, resource: str, namespace: str) -> str:
        return real_node.kubectl("auth", "can-i", verb, resource, "-n", namespace, "--as",
                                 f"system:serviceaccount:{NAMESPACE}:{account}", check=False).stdout.strip()

    for account in ("airflow-worker", "airflow-scheduler", "airflow-triggerer", "airflow-api-server"):
        assert can(account, "create", "pods", "kube-system") == "no", account
        assert can(account, "create", "pods/exec", "kube-system") == "no", account
    assert can("airflow-scheduler", "create", "pods", team_namespace) == "yes"
    assert can("airflow-scheduler", "get", "secrets", team_namespace) == "no"
    namespace = json.loads(real_node.kubectl("get", "namespace", team_namespace, "-o", "json").stdout)
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", labels


def test_a_team_task_is_refused_the_airflow_namespace_and_other_teams(team_stack, real_node):
    """kit_least_privilege as a task of `dev` in its team namespace, whose account may launch pods
    there: reading Airflow's Secrets, exec into the scheduler, creating a pod in the Airflow
    namespace or in team `ops`'s namespace are refused; its TCP to Postgres is dropped by the
    NetworkPolicy across namespaces; it still reads its Variable through the Execution API."""
    outputs = json.loads(team_stack.pulumi("stack", "output", "--json", "--show-secrets", "--stack",
                                           STACK_NAME).stdout)
    service = json.loads(real_node.kubectl("-n", NAMESPACE, "get", "service", "airflow-api-server",
                                           "-o", "json").stdout)
    api = AirflowApi(f"http://{service['spec']['clusterIP']}:8080", outputs["adminUser"], outputs["adminPassword"])
    api.wait_for_dags({"kit_least_privilege"})
    run_id = api.trigger("kit_least_privilege")
    run = api.wait_for_run("kit_least_privilege", run_id, timeout=600)
    tasks = {task["task_id"]: task for task in api.task_instances("kit_least_privilege", run_id)}
    log = log_text(api.task_log_body("kit_least_privilege", run_id, tasks["in_team_pod"]))
    assert run["state"] == "success", log[-3000:]
    other_namespace = f"{NAMESPACE}-{OTHER_TEAM}"
    attempts = dict(re.findall(r"^.*?((?:read|list|create|exec)[^:\n]*): HTTP (\d+)", log, re.MULTILINE))
    assert f"create a pod in team namespace {other_namespace}" in attempts, log[-3000:]
    assert all(status in ("0", "401", "403") for status in attempts.values()), attempts
    tcp = dict(re.findall(r"TCP to ([a-z ]+) \([^)]*\): (\S+)", log))
    assert tcp.get("metadata database") == "refused", (tcp, log[-3000:])
    MEASURED["real node: a team-namespace task's attempts (HTTP status; TCP)"] = f"{attempts}; {tcp}"
