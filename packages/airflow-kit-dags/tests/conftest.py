"""The DAG helper's own tests: a real-Airflow harness and a fixture team catalog.

* ``write_catalog(dir, ...)`` writes a small ``teams.json`` + ``<team>.yaml`` / ``<team>-local-disk.yaml``
  in the helper's input format (what the kit renders into the pod-templates ConfigMap). The kit's
  renderer is checked against the same format by the repo's tests (tests/contract, tests/dags); the
  helper is tested here on its own, without the kit's Pulumi side.
* At import (before any test module imports Airflow) this file points Airflow at a throw-away
  AIRFLOW_HOME with SQLite, ``CeleryExecutor,KubernetesExecutor``, no examples, a dags folder and a
  global pod template, and points ``AIRFLOW_KIT_POD_TEMPLATES_DIR`` at the fixture catalog.
* ``airflow_db`` (session) runs ``airflow db migrate`` once and records how long it took.
* ``generate_dag_yaml(dag_file_or_folder, dag_id)`` runs ``airflow kubernetes generate-dag-yaml`` in a
  subprocess and returns the rendered pods (one dict per task).
"""

from __future__ import annotations

import atexit
import copy
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

# The Airflow the helper is tested with: the one installed beside it.
AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")
TEMPLATES_IN_POD = "/opt/airflow/kit-pod-templates"

# ----------------------------------------------------------------------------- fixture catalog
SCHEDULER_MARKS: dict[str, dict[str, Any]] = {
    "koordinator": {
        "scheduler_name": "koord-scheduler",
        "labels": lambda team: {
            "quota.scheduling.koordinator.sh/name": team,
            "koordinator.sh/qosClass": "BE",
        },
        "annotations": lambda team: {},
        "priority_class_name": "koord-batch",
    },
    "volcano": {
        "scheduler_name": "volcano",
        "labels": lambda team: {},
        "annotations": lambda team: {"scheduling.volcano.sh/queue-name": team},
        "priority_class_name": None,
    },
    "default": {
        "scheduler_name": "default-scheduler",
        "labels": lambda team: {},
        "annotations": lambda team: {},
        "priority_class_name": None,
    },
}

DEFAULT_TEAMS: dict[str, dict[str, Any]] = {
    "etl": {
        "image": "registry.example/etl-airflow:1.0",
        "local_disk": {"mount_path": "/scratch", "storage_class": "open-local-lvm", "max_size": "500Gi"},
        "default_resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    },
    "ml": {
        "image": "registry.example/ml-airflow:2.3",
        "local_disk": None,
        "default_resources": {
            "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
            "limits": {"memory": "4Gi"},
        },
    },
}


def team_pod(name: str, team: dict[str, Any], *, local_disk_size: str | None = None) -> dict[str, Any]:
    """A full Pod template for a team, as the kit renders it."""
    container: dict[str, Any] = {
        "name": "base",
        "image": team["image"],
        "imagePullPolicy": "IfNotPresent",
        "resources": copy.deepcopy(team["default_resources"]),
        "env": [{"name": "AIRFLOW_KIT_TEAM", "value": name}],
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "schedulerName": team["scheduler_name"],
        "containers": [container],
    }
    if team.get("priority_class_name"):
        spec["priorityClassName"] = team["priority_class_name"]
    if local_disk_size:
        ld = team["local_disk"]
        container["volumeMounts"] = [{"name": "local-disk", "mountPath": ld["mount_path"]}]
        spec["volumes"] = [
            {
                "name": "local-disk",
                "ephemeral": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": ld["storage_class"],
                            "resources": {"requests": {"storage": local_disk_size}},
                        }
                    }
                },
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "placeholder",
            "labels": {"airflow-kit/team": name, **team["labels"]},
            "annotations": dict(team["annotations"]),
        },
        "spec": spec,
    }


def write_catalog(
    directory: str | os.PathLike,
    *,
    stack: str = "prod",
    scheduler: str = "koordinator",
    queue: str = "koord-queue",
    namespace: str = "airflow",
    teams: dict[str, dict[str, Any]] | None = None,
    local_disk_template_size: str = "50Gi",
) -> Path:
    """Write teams.json and the team templates into ``directory``; return the directory.

    Paths inside teams.json name /opt/airflow/kit-pod-templates/... as in the cluster; the helpers rebase
    them onto the directory they read teams.json from.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marks = SCHEDULER_MARKS[scheduler]
    catalog_teams: dict[str, Any] = {}
    for name, raw in (teams or DEFAULT_TEAMS).items():
        team = {
            "image": raw["image"],
            "local_disk": raw.get("local_disk"),
            "default_resources": raw["default_resources"],
            "scheduler_name": raw.get("scheduler_name", marks["scheduler_name"]),
            "labels": raw.get("labels", marks["labels"](name)),
            "annotations": raw.get("annotations", marks["annotations"](name)),
            "priority_class_name": raw.get("priority_class_name", marks["priority_class_name"]),
            "pool": raw.get("pool", f"team-{name}"),
        }
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(team_pod(name, team), sort_keys=False))
        ld_template = None
        if team["local_disk"]:
            ld_template = f"{TEMPLATES_IN_POD}/{name}-local-disk.yaml"
            (directory / f"{name}-local-disk.yaml").write_text(
                yaml.safe_dump(team_pod(name, team, local_disk_size=local_disk_template_size), sort_keys=False)
            )
        catalog_teams[name] = {
            "image": team["image"],
            "pod_template": f"{TEMPLATES_IN_POD}/{name}.yaml",
            "local_disk_pod_template": ld_template,
            "local_disk": team["local_disk"],
            "default_resources": team["default_resources"],
            "scheduler_name": team["scheduler_name"],
            "labels": {"airflow-kit/team": name, **team["labels"]},
            "annotations": team["annotations"],
            "priority_class_name": team["priority_class_name"],
            "pool": team["pool"],
            "task_retries": raw.get("task_retries"),
        }
    catalog = {
        "stack": stack,
        "scheduler": scheduler,
        "queue": queue,
        "namespace": namespace,
        "teams": catalog_teams,
    }
    (directory / "teams.json").write_text(json.dumps(catalog, indent=2))
    return directory


DEFAULT_WORKER_TEMPLATE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "placeholder", "labels": {"airflow-kit/default-template": "true"}},
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "base",
                "image": f"apache/airflow:{AIRFLOW_VERSION}",
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
            }
        ],
    },
}

# ----------------------------------------------------------------------------- Airflow environment
# Set at import: Airflow reads AIRFLOW_HOME and its config when first imported.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-kit-home-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, ignore_errors=True)
CATALOG_DIR = write_catalog(AIRFLOW_HOME / "pod_templates")
GLOBAL_POD_TEMPLATE = AIRFLOW_HOME / "pod_templates" / "default.yaml"
GLOBAL_POD_TEMPLATE.write_text(yaml.safe_dump(DEFAULT_WORKER_TEMPLATE))
(AIRFLOW_HOME / "dags").mkdir()

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor,KubernetesExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_HOME / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(GLOBAL_POD_TEMPLATE),
    "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "airflow",
    "AIRFLOW_KIT_POD_TEMPLATES_DIR": str(CATALOG_DIR),
}
os.environ.update(AIRFLOW_ENV)

TIMINGS: dict[str, float] = {}


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def run_airflow(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **AIRFLOW_ENV, **(env or {})}
    proc = subprocess.run(
        [_airflow_bin(), *args], env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"airflow {' '.join(args)} failed ({proc.returncode})\nSTDOUT:\n{proc.stdout[-4000:]}\n"
            f"STDERR:\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the SQLite metadata DB once per session; returns AIRFLOW_HOME."""
    pytest.importorskip("airflow")
    t0 = time.perf_counter()
    run_airflow("db", "migrate")
    TIMINGS["airflow db migrate (s)"] = time.perf_counter() - t0
    return AIRFLOW_HOME


@pytest.fixture()
def catalog_dir(tmp_path, monkeypatch):
    """A fresh catalog factory: ``catalog_dir(queue="none")`` writes one and points the helpers at it."""

    def make(**kwargs: Any) -> Path:
        d = write_catalog(tmp_path / f"pod_templates_{len(list(tmp_path.iterdir()))}", **kwargs)
        monkeypatch.setenv("AIRFLOW_KIT_POD_TEMPLATES_DIR", str(d))
        return d

    return make


def _prepare_dags_folder(dag_file_or_folder: str | os.PathLike, dest: Path) -> Path:
    """A dags folder holding the DAG(s) only: airflow_kit comes installed, as in the cluster."""
    src = Path(dag_file_or_folder)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest / src.name)
    return dest


def generate_dag_yaml(
    dag_file_or_folder: str | os.PathLike,
    dag_id: str,
    *,
    pod_template_file: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    logical_date: str = "2025-01-01T00:00:00+00:00",
) -> list[dict[str, Any]]:
    """Run ``airflow kubernetes generate-dag-yaml DAG_ID`` and return one pod dict per task.

    NOTE (provider 10.25.0, cli/kubernetes_command.py, generate_pod_yaml): the command renders every
    task from the GLOBAL ``[kubernetes_executor] pod_template_file`` plus the task's ``pod_override``;
    it ignores ``executor_config["pod_template_file"]``, which the real executor honours
    (executors/kubernetes_executor_utils.py, ``get_base_pod_from_template``). Pass
    ``pod_template_file`` to render with the template the task chose, i.e. what the executor does.
    ``--logical-date`` is always passed: without it the command crashes in Airflow 3.1.7
    (``DagRun.generate_run_id`` calls ``None.isoformat()``).
    """
    work = Path(tempfile.mkdtemp(prefix="gen-dag-yaml-", dir=AIRFLOW_HOME))
    dags = _prepare_dags_folder(dag_file_or_folder, work / "dags")
    out = work / "out"
    run_env = {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), **(env or {})}
    if pod_template_file:
        run_env["AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE"] = str(pod_template_file)
    t0 = time.perf_counter()
    run_airflow(
        "kubernetes", "generate-dag-yaml", dag_id, "--logical-date", logical_date, "--output-path", str(out),
        env=run_env,
    )
    TIMINGS.setdefault("airflow kubernetes generate-dag-yaml (s)", time.perf_counter() - t0)
    pods = [yaml.safe_load(p.read_text()) for p in sorted((out / "airflow_yaml_output").glob("*.yml"))]
    return sorted(pods, key=lambda p: p["metadata"]["annotations"]["task_id"])


def executor_pod(task, *, pod_template_file: str | None = None):
    """Build the worker pod the KubernetesExecutor would create for ``task``, in-process, the way
    ``KubernetesExecutor`` does it: the task's executor_config template (else the global one),
    the executor's dynamic pod, then the pod_override (PodGenerator.construct_pod)."""
    from airflow.providers.cncf.kubernetes.executors.kubernetes_executor_utils import get_base_pod_from_template
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

    executor_config = task.executor_config or {}
    base = get_base_pod_from_template(pod_template_file or executor_config.get("pod_template_file"), KubeConfig())
    pod = PodGenerator.construct_pod(
        dag_id="d",
        task_id=task.task_id,
        pod_id="d-t",
        try_number=1,
        kube_image=KubeConfig().kube_image,
        date=None,
        args=["airflow", "tasks", "run"],
        pod_override_object=PodGenerator.from_obj(executor_config),
        base_worker_pod=base,
        namespace="airflow",
        scheduler_job_id="1",
    )
    return PodGenerator.serialize_pod(pod)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # a lane of `make test` (xdist): hand the timings over
        session.config.workeroutput["airflow_harness_timings"] = dict(TIMINGS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    TIMINGS.update(getattr(node, "workeroutput", {}).get("airflow_harness_timings", {}))


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_sep("-", "airflow harness timings")
        for k, v in TIMINGS.items():
            terminalreporter.write_line(f"{k}: {v:.3f}")


# ----------------------------------------------------------------------------- fixtures exposing the harness
# (tests use these instead of `from conftest import ...`, which is ambiguous when several test
# directories have a conftest.py)
@pytest.fixture(scope="session")
def kit_catalog_dir() -> Path:
    """The session's fixture catalog (AIRFLOW_KIT_POD_TEMPLATES_DIR unless a test overrides it)."""
    return CATALOG_DIR


@pytest.fixture()
def default_teams() -> dict[str, dict[str, Any]]:
    """The fixture catalog's teams, a copy a test may change and write with ``catalog_dir(teams=...)``."""
    return copy.deepcopy(DEFAULT_TEAMS)


@pytest.fixture(scope="session")
def harness_timings() -> dict[str, float]:
    """Record timings here; they are printed in pytest's terminal summary."""
    return TIMINGS


@pytest.fixture(scope="session")
def build_executor_pod():
    return executor_pod


@pytest.fixture(scope="session")
def dag_yaml(airflow_db):
    """``dag_yaml(dag_file_or_folder, dag_id, pod_template_file=...) -> list[pod dict]`` (DB migrated)."""
    return generate_dag_yaml
