"""Pattern: what a team's task may reach, tried from inside its pod.

A KubernetesExecutor task runs business code next to Airflow. It gets what its work needs (the
Execution API, so Connections and Variables, and its logs) and no Kubernetes API access: in the
stack's namespace it runs as `airflow-kit-task`, an account bound to no Role, with no token
mounted (components/model/pod_security.py), and NetworkPolicies let it connect to DNS and the
Execution API only (components/workloads/network_policies.py). This task tries what a hostile
task would and fails if any of it works: read Airflow's metadata Secret, start a pod next to the
scheduler or in another team's namespace, exec into the scheduler, open TCP to the metadata
database, pgbouncer and Redis. Then it reads a Variable and a Connection, as any task may. The
realnode tier runs it in the stack's namespace and in a team namespace.

A Celery task runs inside a worker and holds the worker's token, whose account may launch pods
for KubernetesPodOperator: `in_celery_worker` tries to use that to reach Airflow's Secrets (a
pod mounting the metadata Secret or running as the scheduler's account, exec into the
scheduler, change or delete it), each refused by the kit's launch guard
(components/workloads/launch_guard.py), while a pod of the operator's shape is still admitted.
Every launch is a server-side dry run: nothing is created, changed or deleted.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Variable, task
from airflow.sdk.bases.hook import BaseHook

from airflow_kit import load_catalog, on_kubernetes

catalog = load_catalog()
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# The chart's Services a task must not reach (release `airflow`): host, port.
AIRFLOW_BACKENDS = {"metadata database": ("airflow-postgresql", 5432), "pgbouncer": ("airflow-pgbouncer", 6543),
                    "redis": ("airflow-redis", 6379)}
CONNECT_TIMEOUT_SECONDS = 5


def try_tcp(namespace: str) -> dict[str, str]:
    """Each backend: `connected`, `refused` (dropped or reset) or `absent` (no such Service)."""
    import socket

    seen = {}
    for what, (service, port) in AIRFLOW_BACKENDS.items():
        host = f"{service}.{namespace}.svc.cluster.local"
        try:
            address = socket.gethostbyname(host)
        except OSError:
            seen[what] = "absent"
        else:
            try:
                socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
                seen[what] = "connected"
            except OSError as error:
                seen[what] = f"refused ({type(error).__name__})"
        print(f"TCP to {what} ({host}:{port}): {seen[what]}")
    return seen


def try_the_cluster(airflow_namespace: str, other_teams_namespaces: list[str]) -> dict[str, object]:
    """Each attempt's HTTP status from the API server (with the pod's token, if it had one; 0: no
    connection), then TCP to Airflow's database, pgbouncer and Redis. A task of a team namespace
    may launch pods in its own namespace (its launcher Role), so that one is not tried."""
    import os
    import pathlib

    import requests
    import urllib3

    urllib3.disable_warnings()
    server = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
    token = pathlib.Path(TOKEN)
    headers = {"Authorization": f"Bearer {token.read_text()}"} if token.exists() else {}
    print(f"service account token mounted: {token.exists()}")
    base = f"{server}/api/v1/namespaces/{airflow_namespace}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kit-escape"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    attempts = {
        "read Secret airflow-metadata": ("GET", f"{base}/secrets/airflow-metadata", None),
        "list Secrets": ("GET", f"{base}/secrets", None),
        "create a pod": ("POST", f"{base}/pods", pod),
        "exec into the scheduler": ("POST", f"{base}/pods/airflow-scheduler-0/exec?command=env&stdout=true", None),
    }
    for namespace in other_teams_namespaces:
        attempts[f"create a pod in team namespace {namespace}"] = (
            "POST", f"{server}/api/v1/namespaces/{namespace}/pods", pod)
    seen: dict[str, object] = {}
    for what, (method, url, body) in attempts.items():
        try:
            status = requests.request(method, url, json=body, headers=headers, verify=False, timeout=10).status_code
        except requests.RequestException as error:  # a network that refuses the API server to tasks
            print(f"{what}: no connection ({type(error).__name__})")
            status = 0
        print(f"{what}: HTTP {status}")
        seen[what] = status
    allowed = {what: status for what, status in seen.items() if status not in (0, 401, 403)}
    tcp = try_tcp(airflow_namespace)
    allowed.update({what: outcome for what, outcome in tcp.items() if outcome == "connected"})
    if allowed:
        raise RuntimeError(f"a task reached the cluster: {allowed}")
    print(f"variable kit_least_privilege_seen={Variable.get('kit_least_privilege_seen', default='unset')}")
    try:  # the realnode tier creates it; a fresh install may not have it
        connection = BaseHook.get_connection("kit_example_api")
        print(f"connection kit_example_api host={connection.host}")
    except Exception as error:  # noqa: BLE001 - AirflowNotFoundException's import moved across versions
        print(f"connection kit_example_api: {type(error).__name__}")
    return {**seen, **tcp}


def try_the_workers_rights(airflow_namespace: str) -> dict[str, int]:
    """Each attempt's HTTP status with the worker's token (none mounted: not a Celery worker)."""
    import os
    import pathlib

    import requests
    import urllib3

    urllib3.disable_warnings()
    token = pathlib.Path(TOKEN)
    if not token.exists():
        print("no service account token: this task did not run in a Celery worker")
        return {}
    server = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.read_text()}"
    session.verify = False
    base = f"{server}/api/v1/namespaces/{airflow_namespace}"
    listed = session.get(f"{base}/pods", params={"labelSelector": "component=scheduler"}, timeout=10)
    print(f"list the scheduler's pods: HTTP {listed.status_code}")
    items = listed.json().get("items", []) if listed.ok else []
    scheduler = items[0]["metadata"]["name"] if items else "airflow-scheduler-0"

    def pod(name: str, **spec) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": spec.pop("labels", {})},
                "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}

    dry_run = {"dryRun": "All"}
    image_patch = {"spec": {"containers": [{"name": "scheduler", "image": "busybox"}]}}
    refused = {
        "read Secret airflow-metadata": ("GET", f"{base}/secrets/airflow-metadata", None, None),
        "launch a pod mounting the metadata Secret": ("POST", f"{base}/pods", dry_run, pod(
            "kit-escape", volumes=[{"name": "s", "secret": {"secretName": "airflow-metadata"}}])),
        "launch a pod as the scheduler's account": ("POST", f"{base}/pods", dry_run, pod(
            "kit-escape", serviceAccountName="airflow-scheduler")),
        "exec into the scheduler": ("POST", f"{base}/pods/{scheduler}/exec",
                                    {"command": "env", "stdout": "true"}, None),
        "change the scheduler's image": ("PATCH", f"{base}/pods/{scheduler}", dry_run, image_patch),
        "delete the scheduler": ("DELETE", f"{base}/pods/{scheduler}", dry_run, None),
    }
    seen = {}
    for what, (method, url, params, body) in refused.items():
        headers = {"Content-Type": "application/strategic-merge-patch+json"} if method == "PATCH" else {}
        response = session.request(method, url, params=params, json=body, headers=headers, timeout=10)
        seen[what] = response.status_code
        print(f"{what}: HTTP {response.status_code} {response.text[:200]!r}")
    allowed = {what: status for what, status in seen.items() if status not in (401, 403)}
    # What KubernetesPodOperator does with the same account: still admitted.
    operator_pod = pod("kit-operator-shape", labels={"kubernetes_pod_operator": "True"})
    launched = session.post(f"{base}/pods", params=dry_run, json=operator_pod, timeout=10)
    print(f"launch a pod of KubernetesPodOperator's shape: HTTP {launched.status_code}")
    if allowed or launched.status_code != 201:
        raise RuntimeError(f"the worker's account reached Airflow: {allowed}; operator's pod: {launched.status_code}")
    return seen


own_namespace = catalog.team(catalog.default_team).namespace or catalog.namespace
other_teams_namespaces = sorted({team.namespace for team in catalog.teams.values()
                                 if team.namespace and team.namespace not in (own_namespace, catalog.namespace)})

with DAG(
    dag_id="kit_least_privilege",
    description="A team task tries to read Airflow's Secrets, start a pod, exec into the scheduler and open its "
                "database, pgbouncer and Redis; a Celery task tries the worker's launcher rights",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["airflow-kit", "example", "security"],
):
    # No retry: one refusal missing is the finding.
    task(try_the_cluster, task_id="in_team_pod", **on_kubernetes(catalog.default_team, retries=0))(
        airflow_namespace=catalog.namespace, other_teams_namespaces=other_teams_namespaces)
    # The stack's default executor: Celery on the kit's stacks.
    task(try_the_workers_rights, task_id="in_celery_worker", retries=0)(airflow_namespace=catalog.namespace)
