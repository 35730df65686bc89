"""The REAL Airflow chart (1.19.0, ../shared/reference/charts) rendered with each stack's values.

What a user hits first when a name the kit shares with the chart is wrong: a task pod that
mounts a ConfigMap nobody created stays ContainerCreating and KubernetesExecutor never notices.
So: run the kit's program (under mocks) for every stack, take the values it passes to the
chart, render the chart with `helm template`, and check that every ConfigMap, Secret and
ServiceAccount each team's pod template refers to exists among the chart's objects and the
kit's own, and that the mounted airflow.cfg tells the task where the Execution API is.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
from typing import Any, Iterable

import pytest
import yaml

from airflow_kit_platform import versions
from repo_tools.harness import tool
from tests.support.charts import airflow_chart_package
from tests.support.measurements import MEASURED
from tests.support.pulumi_harness import evaluate
from tests.support.stacks import STACKS, required_secrets, stack_file_config

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
KIND_OF_TYPE = {"kubernetes:core/v1:Secret": "Secret", "kubernetes:core/v1:ConfigMap": "ConfigMap",
                "kubernetes:core/v1:ServiceAccount": "ServiceAccount",
                "kubernetes:rbac.authorization.k8s.io/v1:Role": "Role",
                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": "RoleBinding",
                "kubernetes:networking.k8s.io/v1:NetworkPolicy": "NetworkPolicy",
                "kubernetes:keda.sh/v1alpha1:TriggerAuthentication": "TriggerAuthentication"}


def helm_binary() -> str:
    found = tool("helm")
    if not found:
        pytest.skip("helm not built (scripts/tools.sh --only helm)")
    return found


def render(stack: str, tmp_path: pathlib.Path,
           config: dict | None = None) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(chart objects, kit objects, pod template files) for one stack (its file, or `config`)."""
    result = evaluate(stack, stack_file_config(stack) if config is None else config, required_secrets(stack))
    assert result.error is None, repr(result.error)
    (chart,) = [r for r in result.resources if r.typ == CHART_TYPE and r.name == "airflow"]
    values_file = tmp_path / f"{stack}-values.yaml"
    values_file.write_text(yaml.safe_dump(chart.inputs["values"]))
    namespace = chart.inputs["namespace"]
    started = time.perf_counter()
    rendered = subprocess.run(
        [helm_binary(), "template", chart.inputs["name"], str(airflow_chart_package()), "--namespace", namespace,
         "-f", str(values_file)], capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    MEASURED[f"helm template of the real Airflow chart, stack {stack}"] = f"{time.perf_counter() - started:.1f} s"
    chart_objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    kit_objects = [{"kind": KIND_OF_TYPE[r.typ], **r.inputs} for r in result.resources if r.typ in KIND_OF_TYPE]
    templates = {}
    for obj in kit_objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "airflow-kit-pod-templates":
            templates = {name: text for name, text in obj["data"].items() if name.endswith(".yaml")}
    assert templates, "the kit rendered no pod templates"
    return chart_objects, kit_objects, templates


def references(pod: dict) -> Iterable[tuple[str, str]]:
    """(kind, name) of every object a pod needs to start."""
    spec = pod["spec"]
    yield "ServiceAccount", spec.get("serviceAccountName", "default")
    for volume in spec.get("volumes", []):
        if "configMap" in volume and not volume["configMap"].get("optional"):
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume and not volume["secret"].get("optional"):
            yield "Secret", volume["secret"]["secretName"]
    for container in (spec.get("initContainers") or []) + spec["containers"]:
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if key in source and not source[key].get("optional"):
                    yield kind, source[key]["name"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chart")
    cache: dict[str, Any] = {}

    def get(stack: str):
        if stack not in cache:
            cache[stack] = render(stack, tmp)
        return cache[stack]

    return get


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_a_team_pod_template_needs_exists(stack, rendered):
    chart_objects, kit_objects, templates = rendered(stack)
    existing = {(obj["kind"], obj["metadata"]["name"]) for obj in chart_objects + kit_objects}
    for name, text in sorted(templates.items()):
        pod = yaml.safe_load(text)
        missing = sorted(set(references(pod)) - existing)
        assert not missing, f"stack {stack}, template {name}: nothing creates {missing}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_mounted_airflow_cfg_points_tasks_at_the_execution_api(stack, rendered):
    chart_objects, _, templates = rendered(stack)
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in chart_objects}
    pod = yaml.safe_load(templates["pod_template_file.yaml"])
    (config_volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "config"]
    configmap = by_name[("ConfigMap", config_volume["configMap"]["name"])]
    cfg = configmap["data"]["airflow.cfg"]
    namespace = stack_file_config(stack).get("namespace", "airflow")
    assert f"execution_api_server_url = http://airflow-api-server.{namespace}:8080/execution/" in cfg
    service = by_name[("Service", "airflow-api-server")]
    assert 8080 in [port["port"] for port in service["spec"]["ports"]]
    assert "task_queued_timeout = " in cfg and "num_stuck_in_queued_retries = 0" in cfg


@pytest.mark.parametrize("stack", STACKS)
def test_no_cluster_wide_rights_and_every_bound_account_exists(stack, rendered):
    """Nothing the chart renders for a stack grants rights cluster-wide (team namespaces too: the
    kit binds Roles there), and every account the kit's RoleBindings name is one the chart makes."""
    chart_objects, kit_objects, _ = rendered(stack)
    cluster_wide = [(obj["kind"], obj["metadata"]["name"]) for obj in chart_objects
                    if obj["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert not cluster_wide, f"stack {stack}: {cluster_wide}"
    namespace = stack_file_config(stack).get("namespace", "airflow")
    accounts = {(obj["metadata"].get("namespace", namespace), obj["metadata"]["name"])
                for obj in chart_objects + kit_objects if obj["kind"] == "ServiceAccount"}
    for obj in kit_objects:
        if obj["kind"] == "RoleBinding":
            for subject in obj["subjects"]:
                assert (subject["namespace"], subject["name"]) in accounts, (stack, obj["metadata"], subject)


def test_a_wrong_configmap_name_would_be_caught(rendered):
    """Negative control: the check above fails for the name the kit used to write."""
    chart_objects, kit_objects, _ = rendered("local")
    existing = {(obj["kind"], obj["metadata"]["name"]) for obj in chart_objects + kit_objects}
    assert ("ConfigMap", "airflow-config") in existing
    assert ("ConfigMap", "airflow-airflow-config") not in existing


def test_chart_objects_render_the_same_twice(rendered, tmp_path):
    first = json.dumps(rendered("prod")[0], sort_keys=True)
    second = json.dumps(render("prod", tmp_path)[0], sort_keys=True)
    assert first == second  # nothing random in the chart's output: a second `pulumi up` has no diff


def _pod_templates(objects: list[dict]) -> Iterable[tuple[str, dict]]:
    """(kind/name, pod template) of every workload among the objects (CronJobs through their Job)."""
    for obj in objects:
        spec = obj.get("spec") or {}
        template = (spec.get("jobTemplate", {}).get("spec") or spec).get("template")
        if template:
            yield f"{obj['kind']}/{obj['metadata']['name']}", template


def _pod_specs(objects: list[dict]) -> Iterable[tuple[str, dict]]:
    for name, template in _pod_templates(objects):
        yield name, template["spec"]


def nested_configmap_mounts(name: str, pod_spec: dict) -> list[str]:
    """Mounts placed inside a ConfigMap/Secret volume's directory: runc refuses them on a real node
    ("not a directory": those volumes are read-only trees of symlinks), the container never starts."""
    kinds = {v["name"]: next(iter(set(v) - {"name"}), "") for v in pod_spec.get("volumes", [])}
    problems = []
    for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
        mounts = container.get("volumeMounts", [])
        directories = [m["mountPath"].rstrip("/") + "/" for m in mounts
                       if kinds.get(m["name"]) in ("configMap", "secret", "projected") and "subPath" not in m]
        for mount in mounts:
            for directory in directories:
                if mount["mountPath"].startswith(directory):
                    problems.append(f"{name} {container['name']}: {mount['mountPath']} inside {directory}")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_no_mount_lands_inside_a_configmap_directory(stack, rendered):
    chart_objects, kit_objects, templates = rendered(stack)
    pods = list(_pod_specs(chart_objects + kit_objects))
    pods += [(f"template {name}", yaml.safe_load(text)["spec"]) for name, text in templates.items()]
    problems = [problem for name, spec in pods for problem in nested_configmap_mounts(name, spec)]
    assert not problems, problems


def test_a_nested_mount_would_be_caught():
    """Negative control: the layout that kept the scheduler from starting on the real node."""
    spec = {"volumes": [{"name": "kit", "configMap": {"name": "x"}}, {"name": "config", "configMap": {"name": "y"}}],
            "containers": [{"name": "scheduler", "volumeMounts": [
                {"name": "kit", "mountPath": "/opt/airflow/pod_templates"},
                {"name": "config", "mountPath": "/opt/airflow/pod_templates/pod_template_file.yaml",
                 "subPath": "pod_template_file.yaml"}]}]}
    assert nested_configmap_mounts("Deployment/airflow-scheduler", spec)


@pytest.mark.parametrize("stack", STACKS)
def test_the_web_admin_password_is_never_a_literal(stack, rendered):
    """The chart's default user job creates admin/admin; the kit's reads the password from its Secret."""
    chart_objects, kit_objects, _ = rendered(stack)
    text = yaml.safe_dump_all(chart_objects)
    jobs = [obj for obj in chart_objects if obj["kind"] == "Job" and obj["metadata"]["name"].endswith("create-user")]
    manager = (stack_file_config(stack).get("airflow") or {}).get("authManager", "fab")
    if manager == "simple":
        assert not jobs and "SimpleAuthManager" in text
        return
    (job,) = jobs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    flags = dict(zip(args[4::2], args[5::2]))  # after bash -c SCRIPT --
    assert args[3] == "--" and not {"-p", "--password"} & set(flags), args
    assert '--password "$AIRFLOW_KIT_ADMIN_PASSWORD"' in args[2]
    env = {e["name"]: e for e in container["env"]}
    assert env["AIRFLOW_KIT_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "airflow-admin-password", "key": "password"}
    assert ("Secret", "airflow-admin-password") in {(o["kind"], o["metadata"]["name"]) for o in kit_objects}


@pytest.mark.parametrize("stack", STACKS)
def test_celery_workers_skip_mingle_and_gossip_and_a_stuck_one_is_replaced_quickly(stack, rendered):
    """A worker that re-ran mingle after a redis restart was seen consuming nothing for 14 minutes
    (celery#8796): the rendered Deployment starts without mingle and gossip, probed every 30 s."""
    chart_objects, _, _ = rendered(stack)
    workers = [obj for obj in chart_objects
               if obj["kind"] in ("Deployment", "StatefulSet") and obj["metadata"]["name"] == "airflow-worker"]
    if not workers:
        pytest.skip(f"stack {stack} runs no Celery workers")
    (container,) = [c for c in workers[0]["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"]
    command = " ".join(container["args"])
    assert "airflow celery worker" in command and "--without-mingle" in command and "--without-gossip" in command
    probe = container["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] <= 90, probe


@pytest.mark.parametrize("stack", STACKS)
def test_the_task_egress_policy_selects_every_team_pod_and_no_airflow_component(stack, rendered):
    """The egress policy selects pods by the team label: were it on the scheduler, the API server or
    a Celery worker, they would lose their database; were it missing from a team template, that
    team's tasks could open the database."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    chart_objects, kit_objects, templates = rendered(stack)
    policies = [obj for obj in kit_objects if obj["kind"] == "NetworkPolicy"]
    assert policies, f"stack {stack}: no NetworkPolicy"
    for policy in policies:
        kubernetes_validate.validate(policy, "1.33", strict=True)
    egress = next(policy for policy in policies if policy["metadata"]["name"] == "airflow-kit-task-egress")
    (expression,) = egress["spec"]["podSelector"]["matchExpressions"]
    key = expression["key"]
    for name, template in _pod_templates(chart_objects):
        labels = template.get("metadata", {}).get("labels", {})
        assert key not in labels, f"stack {stack}: {name} would lose its backends"
    for name, text in templates.items():
        assert key in yaml.safe_load(text)["metadata"]["labels"], f"stack {stack}: {name} is not restricted"


@pytest.mark.parametrize("pgbouncer", [True, False], ids=["pgbouncer", "direct"])
def test_verify_full_mounts_the_database_ca_where_its_client_reads_it(pgbouncer, tmp_path):
    """With `sslmode: verify-full` the client that opens the external database (pgbouncer, else
    every Airflow component) must find the CA file its configuration names, or it refuses to
    connect: the rendered chart mounts the Secret's ca.crt exactly there."""
    from airflow_kit_platform.airflow import values as kit_values
    from airflow_kit_platform.settings import load_settings

    config = stack_file_config("prod")
    config["database"] = {**config["database"], "sslmode": "verify-full", "caSecret": "airflow-db-ca",
                          "pgbouncer": pgbouncer}
    chart_objects, _, _ = render("prod", tmp_path, config)
    settings = load_settings("prod", config, frozenset({"dbPassword"}))
    if pgbouncer:
        ca_file = kit_values.pgbouncer_ini(settings).split("server_tls_ca_file = ")[1].splitlines()[0]
        readers = ["airflow-pgbouncer"]
    else:
        ca_file = kit_values.metadata_connection(settings, "pw").split("sslrootcert=")[1]
        readers = [obj["metadata"]["name"] for obj in chart_objects
                   if obj["kind"] in ("Deployment", "StatefulSet") and obj["metadata"]["name"] in
                   ("airflow-scheduler", "airflow-api-server", "airflow-worker", "airflow-triggerer",
                    "airflow-dag-processor")]
        assert len(readers) >= 4, readers
    for name in readers:
        (obj,) = [o for o in chart_objects
                  if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name]
        spec = obj["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounted = {}
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                source = volumes.get(mount["name"], {}).get("secret", {})
                for item in source.get("items", []):
                    if source.get("secretName") == "airflow-db-ca":
                        mounted[container["name"]] = f"{mount['mountPath']}/{item['path']}"
        assert ca_file in mounted.values(), (name, ca_file, mounted)


TYPE_OF_KIND = {"StatefulSet": "kubernetes:apps/v1:StatefulSet", "Deployment": "kubernetes:apps/v1:Deployment",
                "ScaledObject": "kubernetes:keda.sh/v1alpha1:ScaledObject"}


def transformed(obj: dict) -> dict:
    """The object as `pulumi up` creates it: through the kit's transform on the chart."""
    import pulumi

    from airflow_kit_platform.airflow.release import keep_metadata_secrets_from_workers

    props = {key: value for key, value in obj.items() if key != "kind"}
    typ = TYPE_OF_KIND.get(obj["kind"], f"kubernetes:core/v1:{obj['kind']}")
    result = keep_metadata_secrets_from_workers(pulumi.ResourceTransformArgs(
        custom=True, type_=typ, name=obj["metadata"]["name"], props=props, opts=pulumi.ResourceOptions()))
    return obj if result is None else {"kind": obj["kind"], **result.props}


def env_names(obj: dict) -> dict[str, set[str]]:
    pod = obj["spec"]["template"]["spec"]
    return {container["name"]: {item["name"] for item in container.get("env", [])}
            for container in (pod.get("initContainers") or []) + pod["containers"]}


@pytest.mark.parametrize("stack", STACKS)
def test_celery_workers_hold_neither_the_database_nor_the_fernet_key(stack, rendered):
    """A Celery task runs business code of every team: after the kit's transform its worker's
    containers carry no database URL and no Fernet key (Airflow 3 tasks use the Execution API),
    results go to Redis, KEDA reads the database from the metadata Secret; every other Airflow
    component keeps what it needs."""
    from airflow_kit_platform.airflow.worker_secrets import KEDA_DB_AUTHENTICATION, WORKER_DROPPED_ENV

    chart_objects, kit_objects, _ = rendered(stack)
    workloads = [transformed(obj) for obj in chart_objects if obj["kind"] in ("Deployment", "StatefulSet")]
    worker = next(obj for obj in workloads if obj["metadata"]["name"] == "airflow-worker")
    for container, names in env_names(worker).items():
        assert not names & set(WORKER_DROPPED_ENV), (stack, container, names & set(WORKER_DROPPED_ENV))
    assert "AIRFLOW__CELERY__BROKER_URL" in env_names(worker)["worker"]
    assert "wait-for-airflow-migrations" not in env_names(worker), "a worker without a database cannot wait for it"
    for obj in workloads:
        if obj["metadata"]["name"] in ("airflow-scheduler", "airflow-api-server", "airflow-dag-processor"):
            names = env_names(obj)[obj["metadata"]["name"].removeprefix("airflow-")]
            needed = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY"}
            assert needed <= names, (stack, obj["metadata"])
    for scaled in [transformed(obj) for obj in chart_objects if obj["kind"] == "ScaledObject"]:
        for trigger in scaled["spec"]["triggers"]:
            assert "connectionFromEnv" not in trigger["metadata"], trigger
            assert trigger["authenticationRef"] == {"name": KEDA_DB_AUTHENTICATION}
        (auth,) = [obj for obj in kit_objects if obj["kind"] == "TriggerAuthentication"]
        assert auth["metadata"]["name"] == KEDA_DB_AUTHENTICATION
        assert auth["spec"]["secretTargetRef"] == [{"parameter": "connection", "name": "airflow-metadata",
                                                   "key": "connection"}]


@pytest.mark.parametrize("stack", STACKS)
def test_every_airflow_component_knows_its_cluster(stack, rendered):
    """Without `kubernetes_default` (an env connection, in_cluster) a deferrable
    KubernetesPodOperator resuming on a Celery worker looks for a kubeconfig file and fails: seen
    on the real node when a values change dropped the chart's global env."""
    chart_objects, _, _ = rendered(stack)
    for obj in chart_objects:
        if obj["kind"] not in ("Deployment", "StatefulSet") or obj["metadata"]["name"] not in (
                "airflow-scheduler", "airflow-worker", "airflow-triggerer", "airflow-api-server",
                "airflow-dag-processor"):
            continue
        container = obj["metadata"]["name"].removeprefix("airflow-")
        assert "AIRFLOW_CONN_KUBERNETES_DEFAULT" in env_names(obj)[container], (stack, obj["metadata"]["name"])


@pytest.mark.parametrize("stack", ["local-node", "prod"])
def test_destroy_waits_out_a_celery_workers_grace_period(stack, rendered):
    """A worker's warm shutdown may take its whole grace period (600 s): Pulumi's default 10
    minute wait for its deletion would fail `pulumi destroy` right then (seen on the real node)."""
    import pulumi

    from airflow_kit_platform.airflow.release import wait_out_worker_shutdown

    chart_objects, _, _ = rendered(stack)
    (worker,) = [obj for obj in chart_objects if obj["kind"] == "StatefulSet"
                 and obj["metadata"].get("labels", {}).get("component") == "worker"]
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    props = {key: value for key, value in worker.items() if key != "kind"}
    result = wait_out_worker_shutdown(pulumi.ResourceTransformArgs(
        custom=True, type_=TYPE_OF_KIND["StatefulSet"], name="airflow-worker", props=props,
        opts=pulumi.ResourceOptions()))
    delete = result.opts.custom_timeouts.delete
    assert delete.endswith("m") and int(delete[:-1]) * 60 > grace + 120, (delete, grace)
