"""`pulumi up` of the kit for real: the Pulumi engine, the Kubernetes provider, a kube-apiserver.

For each scheduler backend a stack is deployed, checked object by object with kubectl,
deployed again (no changes allowed), destroyed, and what remains is compared with what the
design retains (queues, quotas and the namespace holding them). The Airflow chart itself
cannot be downloaded here: `airflow.chart.install: false` deploys everything around it
(secrets, pod templates, scheduling objects), which is what these checks are about.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from airflow_kit_platform.airflow.values import SecretNames
from airflow_kit_platform.settings import SECRET_KEYS
from tests.measurements import MEASURED
from tests.e2e.conftest import PulumiProject

pytestmark = pytest.mark.e2e

SECRETS = {key: f"e2e-{key}-value-9f3a" for key in SECRET_KEYS}
SECRETS["fernetKey"] = "ZmRnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGZnZGY="
GENERATED_SECRETS_STACKS = {"e2e-default"}

AIRFLOW = {"chart": {"install": False}, "executors": ["CeleryExecutor", "KubernetesExecutor"],
           "concurrency": {"maxActiveTasksPerDag": 8, "workerConcurrency": 4}}  # parallelism: sized by the kit

STACKS = {
    # ACK: its scheduler, ack-koordinator, ack-kube-queue and KEDA are managed add-ons (the test
    # applies their CRDs, the koord-* PriorityClasses and kube-queue's Deployment).
    "e2e-ack": {
        "namespace": "airflow-ack",
        "airflow": AIRFLOW,
        "keda": {"enabled": True, "install": False},
        "scheduler": {"backend": "ack", "overcommit": {"enabled": True}},
        "queue": {"backend": "ack"},
        "localDisk": {"storageClass": "csi-local", "createStorageClass": True, "maxSize": "200Gi"},
        "teams": [
            {"name": "ack-data", "min": {"cpu": "8", "memory": "32Gi"}, "max": {"cpu": "16", "memory": "64Gi"}},
            {"name": "ack-etl", "parent": "ack-data", "min": {"cpu": "4", "memory": "16Gi"},
             "max": {"cpu": "12", "memory": "48Gi"}, "priority": "batch", "overcommit": True, "weight": 3},
            {"name": "ack-bi", "parent": "ack-data", "min": {"cpu": "2", "memory": "8Gi"},
             "max": {"cpu": "8", "memory": "32Gi"}},
        ],
    },
    "e2e-volcano": {
        "namespace": "airflow-volcano",
        "airflow": AIRFLOW,
        "scheduler": {"backend": "volcano", "install": False, "loadAware": {"enabled": False}},
        "teams": [
            {"name": "vc-data", "min": {"cpu": "8", "memory": "32Gi"}, "max": {"cpu": "16", "memory": "64Gi"}},
            {"name": "vc-etl", "parent": "vc-data", "min": {"cpu": "4", "memory": "16Gi"},
             "max": {"cpu": "12", "memory": "48Gi"}, "priority": "batch"},
            {"name": "vc-ml", "parent": "vc-data", "min": {"cpu": "2", "memory": "8Gi"},
             "max": {"cpu": "8", "memory": "32Gi"}, "priority": "prod"},
        ],
    },
    "e2e-default": {
        "namespace": "airflow-default",
        "airflow": AIRFLOW,
        "scheduler": {"backend": "default"},
        "teams": [{"name": "dev", "min": {"cpu": "2", "memory": "4Gi"}, "max": {"cpu": "4", "memory": "8Gi"},
                   "taskResources": {"cpu": "250m", "memory": "512Mi"}}],
    },
}


def names(cluster, kind: str, namespace: str | None = None) -> set[str]:
    args = ["get", kind, "-o", "json"] + (["-n", namespace] if namespace else [])
    items = json.loads(cluster.kubectl(*args).stdout)["items"]
    return {item["metadata"]["name"] for item in items}


def get(cluster, kind: str, name: str, namespace: str | None = None) -> dict:
    args = ["get", kind, name, "-o", "json"] + (["-n", namespace] if namespace else [])
    return json.loads(cluster.kubectl(*args).stdout)


def expected_secrets(config: dict) -> set[str]:
    return {SecretNames.fernet_key, SecretNames.api_secret_key, SecretNames.jwt_secret, SecretNames.metadata,
            SecretNames.postgresql_auth, SecretNames.redis_password, SecretNames.broker_url,
            SecretNames.result_backend}


def test_control_plane_is_up(cluster):
    """testinfra on the local host: the API server and etcd listen, their processes run."""
    testinfra = pytest.importorskip("testinfra")
    host = testinfra.get_host("local://")
    assert host.socket(f"tcp://127.0.0.1:{cluster.ports['APISERVER_PORT']}").is_listening
    assert host.socket(f"tcp://127.0.0.1:{cluster.ports['ETCD_PORT']}").is_listening
    for process in ("etcd", "kube-apiserver", "kwok"):
        assert host.process.filter(comm=process[:15]), f"{process} is not running"
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 3
    MEASURED["e2e local control plane start (etcd, apiserver, controllers, kwok, 3 nodes)"] = (
        f"{cluster.start_seconds:.1f} s")


@pytest.mark.parametrize("stack", list(STACKS))
def test_pulumi_up_again_and_destroy(stack, cluster, addon_crds, tools_env, tmp_path):
    config = STACKS[stack]
    namespace = config["namespace"]
    leaves = {t["name"] for t in config["teams"]} - {t.get("parent") for t in config["teams"]}
    project = PulumiProject(tmp_path / "project", tools_env, cluster.kubeconfig, stack, config)
    # e2e-default's secrets are generated by the kit (a dynamic resource, no provider plugin);
    # the other stacks give theirs with `pulumi config set --secret`.
    project.init({} if stack in GENERATED_SECRETS_STACKS else SECRETS)

    started = time.perf_counter()
    up = project.up()
    up_seconds = time.perf_counter() - started

    # --- what exists, object by object ---------------------------------------------------
    assert namespace in names(cluster, "namespaces")
    assert expected_secrets(config) <= names(cluster, "secrets", namespace)
    templates = get(cluster, "configmap", "airflow-kit-pod-templates", namespace)["data"]
    catalog = json.loads(templates["teams.json"])
    assert set(catalog["teams"]) == leaves
    assert {f"{team}.yaml" for team in leaves} <= set(templates)
    backend = config["scheduler"]["backend"]
    if backend == "ack":
        tree = get(cluster, "elasticquotatrees.scheduling.sigs.k8s.io", "elasticquotatree", "kube-system")
        [stack_node] = tree["spec"]["root"]["children"]
        assert stack_node["name"] == namespace
        leaf_nodes = [leaf for top in stack_node["children"] for leaf in top.get("children", [])]
        assert {leaf["name"]: leaf["namespaces"] for leaf in leaf_nodes} == \
            {f"{namespace}-{team}": [f"{namespace}-{team}"] for team in leaves}
        for team in leaves:  # each team's namespace has what its task pods mount
            team_namespace = f"{namespace}-{team}"
            assert "airflow-kit-pod-templates" in names(cluster, "configmaps", team_namespace)
            assert "airflow-worker" in names(cluster, "serviceaccounts", team_namespace)
            assert "airflow-kit-task-launcher" in names(cluster, "roles", team_namespace)
            assert not names(cluster, "secrets", team_namespace)  # no secret is copied
        assert catalog["teams"]["ack-etl"]["namespace"] == f"{namespace}-ack-etl"
        assert catalog["teams"]["ack-etl"]["batch_resources"] is True
        assert "csi-local" in names(cluster, "storageclasses")
        assert not names(cluster, "elasticquotas.scheduling.sigs.k8s.io", namespace)
    elif backend == "koordinator":
        quotas = {q: get(cluster, "elasticquotas.scheduling.sigs.k8s.io", q, namespace)
                  for q in names(cluster, "elasticquotas.scheduling.sigs.k8s.io", namespace)}
        assert set(quotas) == {f"{namespace}-{t['name']}" for t in config["teams"]}
        for team in config["teams"]:
            quota = quotas[f"{namespace}-{team['name']}"]
            assert quota["spec"]["max"] == team["max"] and quota["spec"]["min"] == team["min"]
            labels = quota["metadata"].get("labels", {})
            if team.get("parent"):
                assert labels["quota.scheduling.koordinator.sh/parent"] == f"{namespace}-{team['parent']}"
        assert quotas[f"{namespace}-ack-data"]["metadata"]["labels"]["quota.scheduling.koordinator.sh/is-parent"] == "true"
        profiles = names(cluster, "clustercolocationprofiles.config.koordinator.sh")
        assert any(namespace in profile for profile in profiles)
    elif backend == "volcano":
        queues = {t["name"]: get(cluster, "queues.scheduling.volcano.sh", f"{namespace}-{t['name']}")
                  for t in config["teams"]}
        assert queues["vc-etl"]["spec"]["parent"] == f"{namespace}-vc-data"
        assert queues["vc-etl"]["spec"]["capability"] == {"cpu": "12", "memory": "48Gi"}
        assert {f"{namespace}-batch", f"{namespace}-prod"} <= names(cluster, "priorityclasses")
    else:
        assert names(cluster, "resourcequotas", namespace) and names(cluster, "limitranges", namespace)
        assert f"{namespace}-mid" in names(cluster, "priorityclasses")
    outputs = project.outputs()
    assert outputs["namespace"] == namespace and outputs["scheduler"] == backend
    assert outputs["executors"] == "CeleryExecutor,KubernetesExecutor"
    state = project.state_text()
    for name in expected_secrets(config):
        for key, encoded in get(cluster, "secret", name, namespace)["data"].items():
            value = base64.b64decode(encoded).decode()
            assert len(value) >= 16, f"{name}/{key} is too short to be a generated or given secret"
            assert value not in state, f"{name}/{key} is stored in plain text in the Pulumi state"

    # --- a second up changes nothing ----------------------------------------------------
    started = time.perf_counter()
    again = project.preview_expect_no_changes()
    again_seconds = time.perf_counter() - started
    assert again.returncode == 0, f"second run wants changes:\n{again.stdout[-4000:]}\n{again.stderr[-2000:]}"

    # --- destroy: exactly the retained objects remain -----------------------------------
    started = time.perf_counter()
    project.destroy()
    destroy_seconds = time.perf_counter() - started
    assert namespace in names(cluster, "namespaces"), "the namespace holding the quotas is retained"
    assert not (expected_secrets(config) & names(cluster, "secrets", namespace))
    assert "airflow-kit-pod-templates" not in names(cluster, "configmaps", namespace)
    if backend == "ack":
        assert not {f"{namespace}-{team}" for team in leaves} & names(cluster, "namespaces"), \
            "team namespaces go with the stack"
        assert "elasticquotatree" in names(cluster, "elasticquotatrees.scheduling.sigs.k8s.io", "kube-system"), \
            "the tree is retained like every quota (scheduler.retainQueues)"
        cluster.kubectl("delete", "elasticquotatrees.scheduling.sigs.k8s.io", "--all", "-n", "kube-system")
    elif backend == "koordinator":
        assert names(cluster, "elasticquotas.scheduling.sigs.k8s.io", namespace) == \
            {f"{namespace}-{t['name']}" for t in config["teams"]}
        assert any(namespace in p for p in names(cluster, "clustercolocationprofiles.config.koordinator.sh"))
    elif backend == "volcano":
        assert {f"{namespace}-{t['name']}" for t in config["teams"]} <= names(cluster, "queues.scheduling.volcano.sh")
        assert not {n for n in names(cluster, "priorityclasses") if n.startswith(f"{namespace}-")}
    else:
        assert not names(cluster, "resourcequotas", namespace) and not names(cluster, "limitranges", namespace)
        assert not {n for n in names(cluster, "priorityclasses") if n.startswith(f"{namespace}-")}
    created = sum(1 for line in up.stdout.splitlines() if line.strip().startswith("+ ") and "created" in line)
    MEASURED[f"e2e {stack}"] = (f"pulumi up {up_seconds:.1f} s ({created} resources created), second run "
                                f"{again_seconds:.1f} s with no changes, destroy {destroy_seconds:.1f} s")


def refused(project: PulumiProject, *command: str) -> str:
    """Run a pulumi command the kit must refuse; its output (a failure, without a traceback)."""
    result = project.pulumi(*command, "--stack", project.stack, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "Traceback" not in output
    return output


def test_bad_config_is_one_line_from_the_real_cli(cluster, tools_env, tmp_path):
    """Through the real engine and language host: the one-line message, no traceback."""
    config = {**STACKS["e2e-default"], "scheduler": {"backend": "kueue"}}
    project = PulumiProject(tmp_path / "project", tools_env, cluster.kubeconfig, "e2e-bad", config)
    project.init(SECRETS)
    output = refused(project, "preview")
    assert ("stack 'e2e-bad': airflow-kit:scheduler.backend = 'kueue': must be one of default, koordinator, "
            "volcano, ack") in output


def test_missing_local_chart_is_one_line_before_anything_is_created(cluster, tools_env, tmp_path):
    """A chart the stack cannot fetch stops `pulumi up` in the program, not inside the engine."""
    airflow = {**AIRFLOW, "chart": {"path": ".charts/airflow-1.19.0.tgz"}}
    config = {**STACKS["e2e-default"], "namespace": "airflow-nochart", "airflow": airflow}
    project = PulumiProject(tmp_path / "project", tools_env, cluster.kubeconfig, "e2e-nochart", config)
    project.init({})
    output = refused(project, "up", "--yes", "--skip-preview")
    assert ("stack 'e2e-nochart': airflow-kit:airflow.chart.path = '.charts/airflow-1.19.0.tgz': no such chart file "
            "or folder; `make setup` puts the packaged chart in .charts/ (from CHARTS_FROM or the chart repository "
            "https://airflow.apache.org), or point the key at a copy of airflow-1.19.0.tgz or a folder holding it") \
        in output
    assert "airflow-nochart" not in names(cluster, "namespaces"), "nothing is created"


def test_ack_preflight_names_what_the_cluster_lacks_before_anything_is_created(cluster, addon_crds, tools_env,
                                                                               tmp_path):
    """An ACK stack on a cluster without the local-disk class it names: one line, nothing created."""
    config = {**STACKS["e2e-ack"], "namespace": "airflow-ackpre",
              "localDisk": {"storageClass": "csi-local-missing", "maxSize": "200Gi"}}
    project = PulumiProject(tmp_path / "project", tools_env, cluster.kubeconfig, "e2e-ackpre", config)
    project.init(SECRETS)
    output = refused(project, "up", "--yes", "--skip-preview")
    assert ("stack 'e2e-ackpre': StorageClass csi-local-missing (localDisk.storageClass) is missing: install the "
            "CSI local plugin") in output
    assert not {"airflow-ackpre", "airflow-ackpre-ack-etl"} & names(cluster, "namespaces"), "nothing is created"
