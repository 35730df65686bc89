"""Fixtures of the reference-DAG tests: one Airflow home per session, catalogs per stack, timings."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.dags import dag_env
from tests.support.measurements import MEASURED


@pytest.fixture(scope="session")
def airflow_home():
    if not dag_env.airflow_available():
        pytest.skip("real Airflow 3 with the celery and cncf.kubernetes providers is not installed "
                    "(pip install -r requirements-test.txt)")
    home = dag_env.AirflowHome.create()
    env = home.env(executors="CeleryExecutor,KubernetesExecutor", dags_folder=home.root / "empty-dags")
    (home.root / "empty-dags").mkdir()
    started = time.perf_counter()
    home.airflow("db", "migrate", env=env)
    MEASURED["airflow db migrate (SQLite)"] = f"{time.perf_counter() - started:.1f} s"
    yield home
    home.remove()


@pytest.fixture(scope="session")
def catalogs(airflow_home):
    """stack -> directory with that stack's rendered pod templates and teams.json."""
    cache: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in cache:
            cache[stack] = dag_env.render_catalog(dag_env.stack_settings(stack),
                                                  airflow_home.root / "catalogs" / stack)
        return cache[stack]

    return get


@pytest.fixture
def scratch():
    path = Path(tempfile.mkdtemp(prefix="kit-dags-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
