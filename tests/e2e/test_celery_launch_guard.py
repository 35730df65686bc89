"""A Celery task cannot use the worker's launcher rights to reach Airflow's Secrets
(components/workloads/launch_guard.py), judged by a real kube-apiserver.

The worker's account gets the real chart's pod and Job launcher Roles (`helm template` of the
packaged chart, Celery executor), then every request is made as that account (impersonation)
against a namespace holding a pod named like the scheduler: first without the kit's policy (the
chart's Role alone lets a task start a pod mounting the metadata Secret: the hole), then with it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from airflow_kit_platform.airflow.chart_names import CHART
from airflow_kit_platform.model.pod_security import TASK_SERVICE_ACCOUNT
from airflow_kit_platform.workloads.launch_guard import GUARD_PREFIX, celery_launch_policy, celery_launch_policy_binding
from repo_tools.harness import tool
from tests.support.charts import airflow_chart_package

NAMESPACE = "guard-airflow"
WORKER = f"system:serviceaccount:{NAMESPACE}:{CHART.worker_service_account}"
SCHEDULER_POD = f"{CHART.fullname}-scheduler-7d9f8b6c5-x2x4k"
KPO_POD = "etl-business-k3j2h1"
LAUNCHER_TEMPLATES = ("pod-launcher-role", "pod-launcher-rolebinding", "job-launcher-role", "job-launcher-rolebinding")
REFUSED = "ValidatingAdmissionPolicy"


def pod(name: str, spec: dict | None = None, labels: dict | None = None, kind: str = "Pod") -> dict:
    spec = {"containers": [{"name": "c", "image": "busybox"}], **(spec or {})}
    metadata = {"name": name, "namespace": NAMESPACE, "labels": labels or {}}
    if kind == "Job":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
                "spec": {"template": {"metadata": {"labels": labels or {}},
                                      "spec": {**spec, "restartPolicy": "Never"}}}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


SECRET_VOLUME = {"volumes": [{"name": "s", "secret": {"secretName": "airflow-metadata"}}]}
PROJECTED_SECRET = {"volumes": [{"name": "s", "projected": {"sources": [{"secret": {"name": "airflow-fernet-key"}}]}}]}
SECRET_ENV = {"containers": [{"name": "c", "image": "busybox", "env": [
    {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "airflow-metadata", "key": "connection"}}}]}]}
SECRET_ENV_FROM = {"containers": [{"name": "c", "image": "busybox",
                                   "envFrom": [{"secretRef": {"name": "airflow-metadata"}}]}]}
# What a task tries with the worker's account, each refused by the kit's policy.
HOSTILE = {
    "a pod mounting the metadata Secret": pod("escape-volume", SECRET_VOLUME),
    "a pod with the Fernet key in a projected volume": pod("escape-projected", PROJECTED_SECRET),
    "a pod with the database URL in its env": pod("escape-env", SECRET_ENV),
    "a pod with every key of the metadata Secret as env": pod("escape-env-from", SECRET_ENV_FROM),
    "a pod running as the scheduler's account": pod("escape-account",
                                                    {"serviceAccountName": CHART.scheduler_service_account}),
    "a pod carrying the API server's labels": pod("escape-labels", labels={
        "tier": "airflow", "component": "api-server", "release": CHART.release}),
    "a Job whose pod mounts the metadata Secret": pod("escape-job", SECRET_VOLUME, kind="Job"),
}
# What a KubernetesPodOperator and the queued Job operator do with it: still allowed.
LAUNCHES = {
    "a KubernetesPodOperator pod": pod("kpo-probe", {"volumes": [{"name": "cfg", "configMap": {"name": "x"}}]},
                                       labels={"kubernetes_pod_operator": "True", "airflow-kit/team": "etl"}),
    "a pod as the kit's task account": pod("task-probe", {"serviceAccountName": TASK_SERVICE_ACCOUNT,
                                                          "automountServiceAccountToken": False}),
    "a queued Job": pod("job-probe", labels={"airflow-kit/team": "etl"}, kind="Job"),
}


def run(cluster, *args: str, body: dict | None = None, as_worker: bool = True) -> subprocess.CompletedProcess:
    command = ["kubectl", "--kubeconfig", cluster.kubeconfig, *(["--as", WORKER] if as_worker else []), *args]
    return subprocess.run(command, input=json.dumps(body) if body else None, env=cluster.env,
                          capture_output=True, text=True, timeout=60)


def create(cluster, manifest: dict, as_worker: bool = True) -> subprocess.CompletedProcess:
    return run(cluster, "create", "--dry-run=server", "-f", "-", body=manifest, as_worker=as_worker)


def chart_launcher_rbac() -> list[dict]:
    helm = tool("helm")
    if not helm:
        pytest.skip("helm not built (scripts/tools.sh --only helm)")
    shown = [arg for name in LAUNCHER_TEMPLATES for arg in ("--show-only", f"templates/rbac/{name}.yaml")]
    rendered = subprocess.run([helm, "template", CHART.release, str(airflow_chart_package()), "--namespace", NAMESPACE,
                               "--set", "executor=CeleryExecutor", "--set", "allowJobLaunching=true", *shown],
                              capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@pytest.fixture(scope="module")
def namespace(cluster):
    """The stack's namespace as the chart leaves it: the worker's launcher Roles, a scheduler pod
    and a KubernetesPodOperator pod (never scheduled: admission is what is judged)."""
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    accounts = ("default", CHART.worker_service_account, CHART.scheduler_service_account, TASK_SERVICE_ACCOUNT)
    objects += [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NAMESPACE}}
                for name in accounts]
    objects += chart_launcher_rbac()
    objects += [pod(SCHEDULER_POD, labels={"tier": "airflow", "component": "scheduler", "release": CHART.release}),
                pod(KPO_POD, labels={"kubernetes_pod_operator": "True"})]
    for manifest in objects:
        applied = run(cluster, "apply", "-f", "-", body=manifest, as_worker=False)
        assert applied.returncode == 0, applied.stderr
    yield cluster
    for manifest in (celery_launch_policy_binding(NAMESPACE), celery_launch_policy(NAMESPACE)):
        run(cluster, "delete", "--ignore-not-found", manifest["kind"].lower(), manifest["metadata"]["name"],
            as_worker=False)
    run(cluster, "delete", "namespace", NAMESPACE, "--wait=false", as_worker=False)


@pytest.fixture(scope="module")
def guarded(namespace):
    """The chart's Role alone lets a task mount the metadata Secret; then the kit's policy."""
    hole = create(namespace, HOSTILE["a pod mounting the metadata Secret"])
    assert hole.returncode == 0, f"the chart's Role should allow this without the policy: {hole.stderr}"
    for manifest in (celery_launch_policy(NAMESPACE), celery_launch_policy_binding(NAMESPACE)):
        assert manifest["metadata"]["name"].startswith(GUARD_PREFIX)
        applied = run(namespace, "apply", "-f", "-", body=manifest, as_worker=False)
        assert applied.returncode == 0, applied.stderr
    deadline = time.monotonic() + 60  # the API server compiles and starts applying it within seconds
    while create(namespace, HOSTILE["a pod mounting the metadata Secret"]).returncode == 0:
        assert time.monotonic() < deadline, "the policy never took effect"
        time.sleep(1)
    return namespace


@pytest.mark.parametrize("attempt", sorted(HOSTILE))
def test_a_celery_task_cannot_launch_a_pod_that_reaches_airflows_secrets(guarded, attempt):
    refused = create(guarded, HOSTILE[attempt])
    assert refused.returncode != 0 and REFUSED in refused.stderr and "Forbidden" in refused.stderr, (
        attempt, refused.stdout, refused.stderr)


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_task_launches_of_the_operators_shape_still_pass(guarded, launch):
    created = create(guarded, LAUNCHES[launch])
    assert created.returncode == 0, (launch, created.stderr)


def test_a_celery_task_cannot_touch_or_exec_into_airflows_pods(guarded):
    patch = json.dumps({"spec": {"containers": [{"name": "c", "image": "evil"}]}})
    for args in (("patch", "pod", SCHEDULER_POD, "-p", patch), ("label", "pod", SCHEDULER_POD, "x=y"),
                 ("delete", "pod", SCHEDULER_POD)):
        refused = run(guarded, "-n", NAMESPACE, *args, "--dry-run=server")
        assert refused.returncode != 0 and REFUSED in refused.stderr, (args, refused.stderr)
    # Exec is judged before the API server looks at the pod's containers: the policy answers for
    # the scheduler; for the operator's own pod the request gets past it (the pod is not running).
    scheduler = run(guarded, "create", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{SCHEDULER_POD}/exec"
                    "?command=env&stdout=true", "-f", "/dev/null")
    assert scheduler.returncode != 0 and REFUSED in scheduler.stderr, scheduler.stderr
    own = run(guarded, "create", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{KPO_POD}/exec"
              "?command=cat&stdout=true", "-f", "/dev/null")
    assert REFUSED not in own.stderr, own.stderr


def test_the_operator_still_follows_and_deletes_its_own_pods(guarded):
    for args in (("label", "pod", KPO_POD, "already_checked=True"), ("delete", "pod", KPO_POD)):
        allowed = run(guarded, "-n", NAMESPACE, *args, "--dry-run=server")
        assert allowed.returncode == 0, (args, allowed.stderr)


def test_the_policy_binds_the_worker_only(guarded):
    """Airflow's own accounts (here the cluster admin) are not the worker: not judged by it."""
    admin = create(guarded, HOSTILE["a pod mounting the metadata Secret"], as_worker=False)
    assert admin.returncode == 0, admin.stderr
