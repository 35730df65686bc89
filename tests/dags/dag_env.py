"""Stacks, team catalogs and a throw-away Airflow home for the reference-DAG tests.

Every Airflow operation runs in its own process (`airflow_runner.py` or the `airflow` CLI) with
an environment built here, so each stack style gets its own executor list and the pytest process
never imports Airflow (tests/airflow imports it in-process with its own settings).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from airflow_kit_platform.scheduling.backend import PodMarks
from airflow_kit_platform.scheduling.plans import scheduling_plan
from airflow_kit_platform.settings import Settings, load_settings
from airflow_kit_platform.versions import AIRFLOW_VERSION
from airflow_kit_platform.workloads.pod_templates import render_pod_templates
from tests.support.stacks import REPO, stack_file_config

DAGS_DIR = REPO / "dags"
RUNNER = Path(__file__).with_name("airflow_runner.py")
REFERENCE_DAG_FILES = sorted(p.name for p in DAGS_DIR.glob("kit_*.py"))
# DAG ids per file: file kit_x.py holds DAG kit_x, and the probe file its OOM companion too.
EXTRA_DAG_IDS = {"kit_fault_probe.py": {"kit_fault_oom", "kit_fault_stream"}}
# DAG files whose tasks name the KubernetesExecutor: they cannot load on a stack without it.
KUBERNETES_EXECUTOR_FILES = {"kit_kubernetes_teams.py", "kit_training_chain.py", "kit_connection_variable.py",
                             "kit_fault_probe.py", "kit_least_privilege.py"}
# The DAGs those files hold that name it (Airflow refuses each such DAG; the file's others still load).
KUBERNETES_EXECUTOR_DAG_IDS = {"kit_kubernetes_teams", "kit_training_chain", "kit_connection_variable",
                               "kit_fault_probe", "kit_fault_oom", "kit_least_privilege"}
QUOTA_LABEL = "quota.scheduling.koordinator.sh/name"
ACK_QUOTA_LABEL = "quota.scheduling.alibabacloud.com/name"  # ack-kube-queue's


def queue_label(settings: Settings) -> str:
    """The label a queued Job carries for its team's queue."""
    return ACK_QUOTA_LABEL if settings.queue.backend == "ack" else QUOTA_LABEL


def airflow_available() -> bool:
    """Real Airflow 3 and the providers the reference DAGs use are installed (checked by their
    distributions: importing Airflow here would configure it inside the pytest process)."""
    try:
        return (int(importlib.metadata.version("apache-airflow").split(".")[0]) >= 3
                and all(importlib.metadata.version(dist) for dist in (
                    "apache-airflow-providers-cncf-kubernetes", "apache-airflow-providers-celery")))
    except importlib.metadata.PackageNotFoundError:
        return False


def stack_settings(stack: str, **overrides: Any) -> Settings:
    raw = {**stack_file_config(stack), **overrides}
    return load_settings(stack, raw, frozenset({"dbPassword"}))


def pod_marks(settings: Settings) -> dict[str, PodMarks]:
    """The marks a task pod of each leaf team carries (the stack's scheduling backend)."""
    return dict(scheduling_plan(settings).pod_marks)


def render_catalog(settings: Settings, directory: Path) -> Path:
    """Write the stack's pod templates + teams.json into `directory`, as the kit's ConfigMap holds
    them (airflow_kit_platform.workloads.pod_templates, the renderer `pulumi up` uses)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_pod_templates(settings, pod_marks(settings)).items():
        (directory / name).write_text(text)
    return directory


DEFAULT_WORKER_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: placeholder
spec:
  restartPolicy: Never
  containers:
  - name: base
    image: apache/airflow:{AIRFLOW_VERSION}
""".format(AIRFLOW_VERSION=AIRFLOW_VERSION)

# Building a Job/pod request asks the hook whether it runs in-cluster, which loads a kube config;
# nothing is ever sent to this address.
OFFLINE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: offline
  user: {token: not-a-token}
contexts:
- name: offline
  context: {cluster: offline, user: offline, namespace: airflow}
current-context: offline
"""


@dataclass
class AirflowHome:
    """One AIRFLOW_HOME with a migrated SQLite DB, shared by the session's Airflow processes."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def create(cls) -> "AirflowHome":
        root = Path(tempfile.mkdtemp(prefix="kit-dags-home-"))
        (root / "default_pod_template.yaml").write_text(DEFAULT_WORKER_TEMPLATE)
        (root / "kubeconfig").write_text(OFFLINE_KUBECONFIG)
        return cls(root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def env(self, *, executors: str, dags_folder: Path, catalog: Optional[Path] = None,
            extra: Mapping[str, str] = {}) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KUBECONFIG"))}
        base.update({
            "AIRFLOW_HOME": str(self.root),
            "AIRFLOW__CORE__EXECUTOR": executors,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.root}/airflow.db",
            "AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE": str(self.root / "default_pod_template.yaml"),
            "AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE": "airflow",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore",
            "KUBECONFIG": str(self.root / "kubeconfig"),
        })
        if catalog is not None:
            base["AIRFLOW_KIT_POD_TEMPLATES_DIR"] = str(catalog)
        base.update(extra)
        return base

    def airflow(self, *args: str, env: Mapping[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
        airflow_bin = Path(sys.executable).with_name("airflow")
        proc = subprocess.run([str(airflow_bin), *args], env=dict(env), capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed ({proc.returncode})\n"
                                 f"STDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-6000:]}")
        return proc

    def run(self, *args: str, env: Mapping[str, str], timeout: float = 600) -> dict[str, Any]:
        """airflow_runner.py in a fresh interpreter; its last stdout line is the JSON result."""
        proc = subprocess.run([sys.executable, str(RUNNER), *args], env=dict(env), capture_output=True,
                              text=True, timeout=timeout, cwd=str(self.root))
        if proc.returncode != 0:
            raise AssertionError(f"runner {' '.join(args)} failed ({proc.returncode})\n"
                                 f"STDOUT:\n{proc.stdout[-4000:]}\nSTDERR:\n{proc.stderr[-6000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def copy_dags(destination: Path, extra: Mapping[str, str] = {}) -> Path:
    """The repo's dags/ (the reference DAGs; airflow_kit is installed) plus extra files, as a dags folder."""
    shutil.copytree(DAGS_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in extra.items():
        (destination / name).write_text(text)
    return destination


