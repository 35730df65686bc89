"""Real Airflow renders the worker pods of a DAG that uses airflow_kit (`airflow kubernetes generate-dag-yaml`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("airflow")
pytest.importorskip("airflow.providers.cncf.kubernetes")

DAG_FILE = Path(__file__).parent / "dags" / "kit_local_disk.py"


@pytest.fixture(scope="module")
def pods(dag_yaml, kit_catalog_dir):
    # generate-dag-yaml renders from the GLOBAL pod template only; give it the template the task
    # chose (executor_config["pod_template_file"] = etl.yaml), i.e. what the KubernetesExecutor uses.
    return {p["metadata"]["annotations"]["task_id"]: p for p in dag_yaml(
        DAG_FILE, "kit_local_disk", pod_template_file=kit_catalog_dir / "etl.yaml")}


def test_every_task_rendered(pods):
    assert set(pods) == {"crunch", "defaults", "on_celery", "queued_job"}


def test_etl_local_disk_pod(pods):
    pod = pods["crunch"]
    spec = pod["spec"]
    base = spec["containers"][0]
    assert base["name"] == "base"
    assert base["image"] == "registry.example/etl-airflow:1.0"
    assert spec["schedulerName"] == "koord-scheduler"
    assert spec["priorityClassName"] == "koord-batch"
    labels = pod["metadata"]["labels"]
    assert labels["quota.scheduling.koordinator.sh/name"] == "etl"
    assert labels["koordinator.sh/qosClass"] == "BE"
    assert labels["kubernetes_executor"] == "True"  # what a ClusterColocationProfile can match
    assert base["resources"] == {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}}
    volumes = spec["volumes"]
    assert [v["name"] for v in volumes] == ["local-disk"]
    claim = volumes[0]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"] == {"storage": "100Gi"}
    assert claim["storageClassName"] == "open-local-lvm"
    assert [m for m in base["volumeMounts"] if m["name"] == "local-disk"] == [
        {"name": "local-disk", "mountPath": "/scratch"}
    ]
    assert base["args"][:3] == ["airflow", "tasks", "run"] or "execute_workload" in " ".join(base["args"])


def test_other_team_override_wins_over_global_template(pods):
    """Even with another team's template as the global one, the override keeps ml's identity."""
    base = pods["defaults"]["spec"]["containers"][0]
    assert base["image"] == "registry.example/ml-airflow:2.3"
    assert base["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "4Gi"},
    }
    assert pods["defaults"]["metadata"]["labels"]["quota.scheduling.koordinator.sh/name"] == "ml"


def test_dagbag_parses_the_dag_without_errors(airflow_db, harness_timings):
    """DagBag import of the test DAG (airflow_kit from the installed airflow-kit-dags)."""
    from airflow.models.dagbag import DagBag

    t0 = time.perf_counter()
    bag = DagBag(dag_folder=str(DAG_FILE), include_examples=False)
    elapsed = time.perf_counter() - t0
    assert bag.import_errors == {}
    dag = bag.dags["kit_local_disk"]
    assert dag.get_task("crunch").executor == "KubernetesExecutor"
    assert dag.get_task("crunch").pool == "team-etl"
    assert dag.get_task("on_celery").executor is None
    harness_timings["DagBag parse of kit_local_disk.py, in-process, warm imports (s)"] = elapsed
    harness_timings["DagBag parse of kit_local_disk.py as reported by DagBag stats (s)"] = sum(
        s.duration.total_seconds() for s in bag.dagbag_stats
    )


def test_the_helper_is_the_installed_distribution_not_a_dags_folder_copy(airflow_db, tmp_path):
    """A dags folder holds DAG files only: `airflow_kit` is the distribution airflow-kit-dags
    (installed in every image the kit renders, and in the test venv), so the DAG processor never
    parses it and no .airflowignore is needed."""
    import importlib.metadata
    import shutil

    import airflow_kit
    from airflow.models.dagbag import DagBag

    distribution = importlib.metadata.distribution("airflow-kit-dags")
    assert distribution.metadata["Name"] == "airflow-kit-dags"
    # Its one dependency; Airflow and the provider are an extra only (packages/airflow-kit-dags/pyproject.toml).
    assert [r for r in distribution.requires or [] if "extra ==" not in r] == ["kubernetes>=29"]
    assert not Path(airflow_kit.__file__).resolve().is_relative_to(DAG_FILE.parent)
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    bag = DagBag(dag_folder=str(dags), include_examples=False)
    assert bag.import_errors == {}
    assert {Path(s.file).name for s in bag.dagbag_stats} == {DAG_FILE.name}


def test_serialized_dag_round_trip_keeps_the_override(airflow_db, build_executor_pod):
    """The scheduler sees the SERIALIZED task (DAG processor -> DB -> scheduler -> executor): the
    pod_override must survive JSON serialization, and the executor path must still give one volume."""
    import json

    from airflow.models.dagbag import DagBag
    from airflow.serialization.serialized_objects import SerializedDAG

    dag = DagBag(dag_folder=str(DAG_FILE), include_examples=False).dags["kit_local_disk"]
    serialized = SerializedDAG.from_dict(json.loads(json.dumps(SerializedDAG.to_dict(dag))))
    task = serialized.get_task("crunch")
    assert task.executor == "KubernetesExecutor" and task.pool == "team-etl"
    pod = build_executor_pod(task)
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["local-disk"]
    assert pod["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"] == {
        "requests": {"storage": "100Gi"}
    }
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert pod["spec"]["schedulerName"] == "koord-scheduler"
    assert serialized.get_task("queued_job").task_type == "QueuedKubernetesJobOperator"
