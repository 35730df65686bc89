"""The reference DAGs in dags/ under real Airflow 3 (offline, SQLite), for every stack style.

* They all load (zero import errors) with the executor list and the team catalog of each stack.
* On a stack without KubernetesExecutor, each DAG file that needs it is ONE clear import error
  and the others load; same for a DAG naming a team the catalog lacks.
* kit_celery_pools runs to success locally (`dag.test()`), with the pools the kit's PoolsSync
  job imports (the same pools.json, through the real `airflow pools import`).
* `airflow kubernetes generate-dag-yaml kit_kubernetes_teams` renders the expected worker pods.
* The queued Job task builds a suspended Job with the team's queue labels and resources.
* Measured: DagBag parse time of dags/ and the peak RSS of one task process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_kit.catalog import as_batch_resources
from airflow_kit_platform.queueing.plans import queue_plan
from airflow_kit_platform.workloads.pod_templates import default_pod_template_text, team_image
from airflow_kit_platform.workloads.pools import pools_file, pools_json
from tests.dags.dag_env import (
    DAGS_DIR,
    EXTRA_DAG_IDS,
    KUBERNETES_EXECUTOR_DAG_IDS,
    KUBERNETES_EXECUTOR_FILES,
    REFERENCE_DAG_FILES,
    airflow_available,
    copy_dags,
    pod_marks,
    queue_label,
    scheduling_plan,
    stack_settings,
)
from tests.support.measurements import MEASURED
from tests.support.stacks import STACKS

pytestmark = pytest.mark.skipif(not airflow_available(), reason="real Airflow 3 + providers not installed")

REFERENCE_DAG_IDS = {name[:-3] for name in REFERENCE_DAG_FILES} | set().union(*EXTRA_DAG_IDS.values())
TEAM_LABEL = "airflow-kit/team"
LOGICAL_DATE = "2025-01-01T00:00:00+00:00"

# Every stack file with its own executor list, plus the other executor lists a stack may set.
STYLES = [(stack, ",".join(stack_settings(stack).airflow.executors)) for stack in STACKS] + [
    ("prod", "KubernetesExecutor"),
    ("prod", "KubernetesExecutor,CeleryExecutor"),
    ("local", "CeleryExecutor"),
    ("local", "LocalExecutor"),
]
_PARSED: dict[tuple[str, str], dict[str, Any]] = {}


def test_reference_dags_are_there():
    assert set(REFERENCE_DAG_FILES) == {
        "kit_celery_pools.py", "kit_kubernetes_teams.py", "kit_pod_operator.py", "kit_queued_job.py",
        "kit_deferrable_sensor.py", "kit_training_chain.py", "kit_connection_variable.py", "kit_fault_probe.py",
        "kit_least_privilege.py"}
    for name in REFERENCE_DAG_FILES:
        text = (DAGS_DIR / name).read_text()
        assert text.startswith('"""Pattern:') or text.startswith('"""'), f"{name}: starts with its docstring"
        assert f'dag_id="{name[:-3]}"' in text or f"DAG_ID = \"{name[:-3]}\"" in text


@pytest.fixture
def parsed(airflow_home, catalogs):
    """Parse dags/ once per (stack, executor list) in a fresh Airflow process."""

    def get(stack: str, executors: str) -> dict[str, Any]:
        key = (stack, executors)
        if key not in _PARSED:
            env = airflow_home.env(executors=executors, dags_folder=DAGS_DIR, catalog=catalogs(stack))
            _PARSED[key] = airflow_home.run("parse", str(DAGS_DIR), env=env)
            seconds = _PARSED[key]["dagbag_seconds"]
            files = sorted(_PARSED[key]["file_seconds"].items(), key=lambda item: -item[1])
            MEASURED[f"DagBag parse of dags/ ({stack}, {executors})"] = (
                f"{seconds:.2f} s for {len(files)} files (slowest {files[0][0].lstrip('/')} "
                f"{files[0][1]:.2f} s); Airflow import "
                f"{_PARSED[key]['airflow_import_seconds']:.2f} s")
        return _PARSED[key]

    return get


def _errors_by_file(result: dict[str, Any]) -> dict[str, str]:
    return {Path(path).name: text for path, text in result["import_errors"].items()}


@pytest.mark.parametrize("stack,executors", STYLES, ids=[f"{s}-{e}" for s, e in STYLES])
def test_reference_dags_load(stack, executors, parsed):
    result = parsed(stack, executors)
    errors = _errors_by_file(result)
    if "KubernetesExecutor" in executors.split(","):
        assert errors == {}
        assert set(result["dags"]) == REFERENCE_DAG_IDS
    else:
        # One import error per DAG file that runs a task on Kubernetes, naming task and executor.
        assert set(errors) == KUBERNETES_EXECUTOR_FILES
        for name, text in errors.items():
            assert "UnknownExecutorException" in text and "'KubernetesExecutor', which is not available" in text, text
        assert set(result["dags"]) == REFERENCE_DAG_IDS - KUBERNETES_EXECUTOR_DAG_IDS
    assert result["dagbag_seconds"] < 20, "parsing the reference DAGs must stay cheap"


@pytest.mark.parametrize("stack", STACKS)
def test_dag_shapes(stack, parsed):
    settings = stack_settings(stack)
    dags = parsed(stack, settings.airflow.executor)["dags"]
    leaves = [team.name for team in settings.teams.leaves()]
    team_pools = {f"team-{name}" for name in leaves}

    pools = dags["kit_celery_pools"]
    assert (pools["max_active_runs"], pools["max_active_tasks"], pools["max_consecutive_failed_dag_runs"]) == (2, 4, 3)
    tasks = pools["tasks"]
    assert all(task["executor"] is None for task in tasks.values())  # the stack's default executor
    assert tasks["list_partitions"]["pool"] in team_pools and tasks["list_partitions"]["priority_weight"] == 10
    assert tasks["transform"]["max_active_tis_per_dag"] == 2
    assert tasks["load"]["pool_slots"] == 2 and tasks["report"]["pool"] == "default_pool"

    teams = dags["kit_kubernetes_teams"]["tasks"]
    expected = {f"crunch_{name.replace('-', '_')}" for name in leaves}
    if settings.local_disk is not None:
        expected.add("local_disk_io")
    assert set(teams) == expected
    for task_id, task in teams.items():
        assert task["executor"] == "KubernetesExecutor" and task["pool"] in team_pools

    chain = dags["kit_training_chain"]["tasks"]
    assert chain["train"]["executor"] == "KubernetesExecutor"
    assert chain["catch_up"]["trigger_dag_id"] == "kit_training_chain"
    assert chain["pick_window"]["executor"] is None

    sensors = dags["kit_deferrable_sensor"]["tasks"]
    assert sensors["wait_for_late_data"]["deferrable"] is True
    assert sensors["wait_for_night_window"]["operator"] == "DateTimeSensorAsync"
    pod = dags["kit_pod_operator"]["tasks"]["business_pod"]
    assert pod["operator"] == "KubernetesPodOperator" and pod["deferrable"] is True and pod["pool"] in team_pools


@pytest.mark.parametrize("stack", STACKS)
def test_queued_job_manifest(stack, parsed):
    """The Job kit_queued_job creates: suspended when the stack has a queue, the team's queue
    labels on the Job and its pods, the team's scheduler and priority, the asked resources."""
    settings = stack_settings(stack)
    job = parsed(stack, settings.airflow.executor)["jobs"]["kit_queued_job.queued_batch_job"]
    team = job["metadata"]["labels"][TEAM_LABEL]
    leaves = [t.name for t in settings.teams.leaves()]
    # The DAG runs as the stack's default team (the helper's catalog may not expose it yet: then
    # the first team by name).
    assert team in {settings.default_team, min(leaves)}
    marks = pod_marks(settings)[team]
    plan = queue_plan(settings, scheduling_plan(settings))
    spec = job["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    if plan.queued:
        assert spec["suspend"] is True
        for labels in (job["metadata"]["labels"], pod_labels):
            assert plan.job_marks[team].labels.items() <= labels.items()
            assert labels[queue_label(settings)] == f"{settings.namespace}-{team}"  # the team's quota
        assert job["metadata"]["namespace"] == settings.task_namespace(team)
    else:
        assert not spec.get("suspend")
    assert marks.labels.items() <= pod_labels.items()
    pod = spec["template"]["spec"]
    assert pod["schedulerName"] == marks.scheduler_name
    assert pod.get("priorityClassName") == marks.priority_class_name
    [base] = [c for c in pod["containers"] if c["name"] == "base"]
    assert base["image"] == team_image(settings, settings.teams.get(team))
    assert base["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert base["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}  # limits follow the asked requests
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(job, "1.33", strict=True)


def test_missing_team_is_one_import_error(airflow_home, catalogs, scratch):
    broken = '''"""A DAG naming a team the stack does not have."""
from datetime import datetime
from airflow.sdk import DAG, task
from airflow_kit import on_kubernetes

with DAG(dag_id="kit_zz_missing_team", schedule=None, start_date=datetime(2025, 1, 1)):
    task(lambda: None, task_id="t", **on_kubernetes("no-such-team"))()
'''
    dags = copy_dags(scratch / "dags", {"kit_zz_missing_team.py": broken})
    env = airflow_home.env(executors="CeleryExecutor,KubernetesExecutor", dags_folder=dags, catalog=catalogs("prod"))
    result = airflow_home.run("parse", str(dags), env=env)
    errors = _errors_by_file(result)
    assert list(errors) == ["kit_zz_missing_team.py"]
    assert "UnknownTeamError" in errors["kit_zz_missing_team.py"]
    assert "unknown team 'no-such-team'" in errors["kit_zz_missing_team.py"]
    assert "stack 'prod'" in errors["kit_zz_missing_team.py"]
    assert set(result["dags"]) == REFERENCE_DAG_IDS


def test_without_a_catalog_every_dag_loads_and_its_tasks_fail_when_run(airflow_home, scratch):
    """Where teams.json is not mounted (a laptop, a DAG CI) the reference DAGs still load (the
    helper gives a stand-in catalog); a task built from it fails when it runs, with ONE message
    naming the missing file and the variable."""
    missing = scratch / "no-catalog-here"
    env = airflow_home.env(executors="CeleryExecutor,KubernetesExecutor", dags_folder=DAGS_DIR, catalog=missing)
    result = airflow_home.run("parse", str(DAGS_DIR), env=env)
    assert _errors_by_file(result) == {}
    assert set(result["dags"]) == REFERENCE_DAG_IDS
    assert set(result["dags"]["kit_kubernetes_teams"]["tasks"]) == {"crunch_no_catalog"}  # the stand-in team

    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    ran = subprocess.run([airflow_bin, "tasks", "test", "kit_kubernetes_teams", "crunch_no_catalog", "2025-01-01"],
                         env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}, capture_output=True, text=True,
                         timeout=300)
    output = ran.stdout + ran.stderr  # `tasks test` exits 0 whatever the task's end: read its log
    failure = [line for line in output.splitlines() if line.startswith("airflow_kit.catalog.CatalogError: ")]
    assert failure == [f"airflow_kit.catalog.CatalogError: team catalog {missing / 'teams.json'} not found "
                       "(No such file or directory): the kit mounts it at /opt/airflow/kit-pod-templates in every "
                       "Airflow component and task pod; elsewhere point env AIRFLOW_KIT_POD_TEMPLATES_DIR at a "
                       "directory holding the stack's teams.json and pod templates. Tasks built from the team "
                       "catalog cannot run without it."], output[-4000:]
    assert "pre_execute" in output and "new_state=failed" in output, output[-4000:]
    assert "team no-catalog on" not in output  # the task's own code never ran


# ----------------------------------------------------------------------------- running tasks
@pytest.fixture
def prod_with_pools(airflow_home, catalogs):
    """prod's catalog and the pools PoolsSync would import, through the real `airflow pools import`."""
    settings = stack_settings("prod")
    env = airflow_home.env(executors=settings.airflow.executor, dags_folder=DAGS_DIR, catalog=catalogs("prod"))
    path = airflow_home.root / "pools.json"
    path.write_text(pools_json(settings))
    airflow_home.airflow("pools", "import", str(path), env=env)
    return settings, env


def test_pools_file_round_trips_through_airflow(airflow_home, prod_with_pools):
    settings, env = prod_with_pools
    exported = airflow_home.root / "exported.json"
    airflow_home.airflow("pools", "export", str(exported), env=env)
    pools = json.loads(exported.read_text())
    pools.pop("default_pool")
    assert pools == pools_file(settings)


def test_celery_pools_dag_runs_locally(airflow_home, prod_with_pools):
    settings, env = prod_with_pools
    result = airflow_home.run("dag-test", str(DAGS_DIR), "kit_celery_pools", env=env)
    MEASURED["dag.test() kit_celery_pools (7 task instances, SQLite)"] = f"{result['seconds']:.1f} s"
    assert result["run_state"] == "success"
    tasks = result["tasks"]
    assert set(tasks) == {"list_partitions", "transform[0]", "transform[1]", "transform[2]", "transform[3]",
                          "load", "report"}
    assert all(ti["state"] == "success" for ti in tasks.values()), tasks
    team_pools = {f"team-{team.name}" for team in settings.teams.leaves()}
    assert tasks["load"]["pool"] in team_pools and tasks["load"]["pool_slots"] == 2
    assert tasks["report"]["pool"] == "default_pool"


def test_training_chain_catches_up_the_next_window(airflow_home, prod_with_pools):
    """`dag.test()` runs every task in-process (train too: no pod), which is enough to check the chain."""
    settings, env = prod_with_pools
    result = airflow_home.run("dag-test", str(DAGS_DIR), "kit_training_chain",
                              json.dumps({"window_start": "2025-01-01"}), env=env)
    assert result["run_state"] == "success"
    assert {task: ti["state"] for task, ti in result["tasks"].items()} == {
        "pick_window": "success", "check_data": "success", "train": "success", "next_window": "success",
        "catch_up": "success"}
    triggered = [run for run in result["runs"] if run["run_id"] == "catch_up__2025-01-02"]
    assert [run["conf"] for run in triggered] == [{"window_start": "2025-01-02"}]


def test_training_chain_stops_on_an_incomplete_window(airflow_home, prod_with_pools):
    settings, env = prod_with_pools
    result = airflow_home.run("dag-test", str(DAGS_DIR), "kit_training_chain",
                              json.dumps({"window_start": "2999-01-01"}), env=env)
    states = {task: ti["state"] for task, ti in result["tasks"].items()}
    assert states["check_data"] == "success"  # a short-circuit that returned False
    assert states["train"] == states["next_window"] == states["catch_up"] == "skipped"
    assert not [run for run in result["runs"] if run["run_id"].startswith("catch_up__2999")]


def test_task_process_memory(airflow_home, prod_with_pools):
    """Peak RSS of one task process: `airflow tasks test` of a Celery-side task."""
    settings, env = prod_with_pools
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    result = airflow_home.run(
        "rss", "--", airflow_bin, "tasks", "test", "kit_celery_pools", "list_partitions", "2025-01-01",
        env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"})
    output = result["stdout"] + result["stderr"]
    assert result["returncode"] == 0, output
    assert "new_state=success" in output, output
    MEASURED["peak RSS of `airflow tasks test kit_celery_pools list_partitions`"] = (
        f"{result['peak_rss_mib']:.0f} MiB ({result['seconds']:.1f} s wall)")
    assert result["peak_rss_mib"] < 1024


# ----------------------------------------------------------------------------- worker pods
@pytest.mark.parametrize("stack", STACKS)
def test_generate_dag_yaml_kubernetes_teams(stack, airflow_home, catalogs, scratch):
    """The worker pods the KubernetesExecutor builds, rendered by Airflow itself.

    `generate-dag-yaml` renders from the GLOBAL pod template (the chart's `podTemplate`: the
    default team's template) plus each task's pod_override, which carries the team's marks,
    image and resources: the pods must be right even from the other team's template."""
    settings = stack_settings(stack)
    marks = pod_marks(settings)
    template = scratch / "default-pod-template.yaml"
    template.write_text(default_pod_template_text(settings, marks))
    env = airflow_home.env(executors=settings.airflow.executor, dags_folder=DAGS_DIR, catalog=catalogs(stack),
                           extra={"AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(template)})
    out = scratch / "out"
    airflow_home.airflow("kubernetes", "generate-dag-yaml", "kit_kubernetes_teams", "--logical-date", LOGICAL_DATE,
                         "--output-path", str(out), env=env)
    pods = {}
    for path in (out / "airflow_yaml_output").glob("*.yml"):
        pod = yaml.safe_load(path.read_text())
        pods[pod["metadata"]["annotations"]["task_id"]] = pod
    plan = queue_plan(settings, scheduling_plan(settings))

    for team in settings.teams.leaves():
        pod = pods[f"crunch_{team.name.replace('-', '_')}"]
        _assert_team_pod(pod, settings, team, marks[team.name], plan)
        expected = team.task_resources.as_k8s()
        if marks[team.name].batch_resources:  # ACK's BE pods: batch-cpu (millicores) and batch-memory only
            expected = as_batch_resources(expected, team=team.name)
        assert pod["spec"]["containers"][0]["resources"] == expected

    if settings.local_disk is None:
        assert "local_disk_io" not in pods
        return
    pod = pods["local_disk_io"]
    disk_team = settings.teams.get(pod["metadata"]["labels"][TEAM_LABEL])
    _assert_team_pod(pod, settings, disk_team, marks[disk_team.name], plan)
    base = pod["spec"]["containers"][0]
    assert base["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "local-disk")
    claim = volume["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == settings.local_disk.storage_class
    assert claim["resources"]["requests"]["storage"] == "5Gi"
    assert {"name": "local-disk", "mountPath": settings.local_disk.mount_path} in base["volumeMounts"]


def _assert_team_pod(pod, settings, team, marks, plan) -> None:
    metadata, spec = pod["metadata"], pod["spec"]
    assert metadata["labels"][TEAM_LABEL] == team.name
    assert metadata["namespace"] == settings.task_namespace(team.name)  # ACK charges the pod by namespace
    assert metadata["labels"]["kubernetes_executor"] == "True"
    assert marks.labels.items() <= metadata["labels"].items()
    assert marks.annotations.items() <= (metadata.get("annotations") or {}).items()
    if plan.queued:  # the same quota as the team's queued Jobs
        label = queue_label(settings)
        assert plan.job_marks[team.name].labels[label] == metadata["labels"][label] == \
            f"{settings.namespace}-{team.name}"
    assert spec["schedulerName"] == marks.scheduler_name
    assert spec.get("priorityClassName") == marks.priority_class_name
    base = spec["containers"][0]
    assert base["name"] == "base"
    assert base["image"] == team_image(settings, team)  # its image, its fused image, or the Airflow image
