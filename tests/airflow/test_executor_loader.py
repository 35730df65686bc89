"""The executor list the kit renders loads with real Airflow 3 and its providers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_kit_platform.airflow.values import build_values
from airflow_kit_platform.settings import load_settings
from tests.support.stacks import STACKS, stack_file_config

pytest.importorskip("airflow", reason="real Airflow 3 is installed by requirements-test.txt")

LOADER = """
import sys
from airflow.executors.executor_loader import ExecutorLoader
names = ExecutorLoader.get_executor_names()
print(",".join(f"{n.alias}={n.module_path}" for n in names))
for name in names:
    ExecutorLoader.load_executor(name)
print("default=" + ExecutorLoader.get_default_executor_name().alias)
"""


def load_in_airflow(executor: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__EXECUTOR=executor,
               AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/airflow.db")
    return subprocess.run([sys.executable, "-c", LOADER], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_executor_list_loads_in_airflow(stack, tmp_path):
    settings = load_settings(stack, stack_file_config(stack), frozenset({"dbPassword"}))
    executor = build_values(settings)["executor"]
    result = load_in_airflow(executor, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert "CeleryExecutor=airflow.providers.celery.executors.celery_executor.CeleryExecutor" in lines[0]
    assert ("KubernetesExecutor=airflow.providers.cncf.kubernetes.executors.kubernetes_executor."
            "KubernetesExecutor") in lines[0]
    assert lines[-1] == f"default={settings.airflow.executors[0]}"


def test_celery_kubernetes_executor_is_gone_in_airflow_3(tmp_path):
    """Why the kit refuses CeleryKubernetesExecutor in config (FACTS.md): Airflow 3 cannot load it."""
    result = load_in_airflow("CeleryKubernetesExecutor", tmp_path)
    assert result.returncode != 0
