"""Real Airflow consumes the rendered templates (skips where apache-airflow is not installed).

* the cncf.kubernetes provider reads each template, merges the executor's dynamic pod and the DAG
  helper's `pod_override` (`PodGenerator.construct_pod`, what the KubernetesExecutor does), and
  the result is a valid Pod with one `base` container, the team's marks and exactly one local disk;
* a DAG whose tasks use `executor="KubernetesExecutor"` parses with the environment the template
  gives the task pod, and would NOT parse with the chart's `AIRFLOW__CORE__EXECUTOR=LocalExecutor`.

Airflow runs in subprocesses with a throw-away AIRFLOW_HOME, so nothing leaks into other tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
import yaml

from airflow_kit_platform import versions
from airflow_kit_platform.workloads import pod_templates as pt
from workload_cases import MARK_STYLES, make_settings, marks_for



def _installed(module: str) -> bool:
    # `tests/airflow` can pass for a namespace package `airflow` when Airflow is not installed.
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


if not _installed("airflow.providers.cncf.kubernetes.pod_generator"):
    pytest.skip("apache-airflow with the cncf.kubernetes provider is not installed (requirements-test.txt)",
                allow_module_level=True)

REPO = pathlib.Path(__file__).resolve().parents[3]
AIRFLOW_IMAGE = f"apache/airflow:{versions.AIRFLOW_VERSION}"  # the chart's worker image at the pin

CONSTRUCT = textwrap.dedent("""
    import json, sys
    from kubernetes.client import ApiClient
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    from airflow_kit import on_kubernetes

    results = {}
    for name, kwargs in json.loads(sys.argv[1]).items():
        out = on_kubernetes(**kwargs)
        config = out["executor_config"]
        base = PodGenerator.deserialize_model_file(config["pod_template_file"])
        pod = PodGenerator.construct_pod(
            dag_id="d", task_id="t", pod_id="d-t", try_number=1, kube_image="AIRFLOW_IMAGE",
            date=None, args=["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string", "{}"],
            pod_override_object=config.get("pod_override"), base_worker_pod=base, namespace="ns",
            scheduler_job_id="1")
        results[name] = {"template": config["pod_template_file"],
                         "pod": ApiClient().sanitize_for_serialization(pod)}
    print(json.dumps(results))
""").replace("AIRFLOW_IMAGE", AIRFLOW_IMAGE)

PARSE = textwrap.dedent("""
    import json, sys
    from airflow.models.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    print(json.dumps({"dags": sorted(bag.dags), "errors": {k: str(v) for k, v in bag.import_errors.items()}}))
""")

DAG_FILE = textwrap.dedent("""
    import pendulum
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow_kit import on_kubernetes

    with DAG("kit_consumer", start_date=pendulum.datetime(2025, 1, 1), schedule=None):
        EmptyOperator(task_id="k8s", **on_kubernetes("etl", memory="2Gi"))
        EmptyOperator(task_id="celery")
""")


def _airflow_env(tmp_path: pathlib.Path, templates: pathlib.Path, extra: dict[str, str] | None = None) -> dict:
    home = tmp_path / "airflow-home"
    home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor,KubernetesExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_KIT_POD_TEMPLATES_DIR": str(templates),
        "PYTHONPATH": str(REPO),  # the DAG helper is installed (airflow-kit-dags)
    })
    env.update(extra or {})
    return env


def _run(script: str, args: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _render(tmp_path: pathlib.Path, style: str) -> tuple[pathlib.Path, dict]:
    settings = make_settings()
    templates = tmp_path / "pod_templates"
    templates.mkdir()
    files = pt.render_pod_templates(settings, marks_for(settings, style))
    for name, text in files.items():
        (templates / name).write_text(text)
    return templates, files


@pytest.mark.parametrize("style", sorted(MARK_STYLES))
def test_executor_builds_valid_task_pods_from_the_templates(tmp_path, style):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    templates, files = _render(tmp_path, style)
    cases = {
        "plain": {"team": "etl"},
        "sized": {"team": "etl", "cpu": "1", "memory": "2Gi"},
        "template-disk": {"team": "reporting", "local_disk": True},
        "sized-disk": {"team": "ml", "memory": "8Gi", "local_disk": "50Gi"},
    }
    results = _run(CONSTRUCT, [json.dumps(cases)], _airflow_env(tmp_path, templates))
    marks = MARK_STYLES[style]
    for name, kwargs in cases.items():
        pod = results[name]["pod"]
        team = kwargs["team"]
        kubernetes_validate.validate(pod, "1.33", strict=True)
        template = yaml.safe_load(files[pathlib.Path(results[name]["template"]).name])
        (base,) = pod["spec"]["containers"]
        assert base["name"] == "base"
        assert base["image"] == template["spec"]["containers"][0]["image"]
        assert base["args"][:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"]
        assert pod["spec"]["schedulerName"] == marks(team).scheduler_name
        assert pod["spec"].get("priorityClassName") == marks(team).priority_class_name
        for key, value in {**marks(team).labels, "airflow-kit/team": team}.items():
            assert pod["metadata"]["labels"][key] == value
        for key, value in marks(team).annotations.items():
            assert pod["metadata"]["annotations"][key] == value
        volume_names = [volume["name"] for volume in pod["spec"]["volumes"]]
        assert len(volume_names) == len(set(volume_names)), volume_names
        disks = [volume for volume in pod["spec"]["volumes"] if volume["name"] == "local-disk"]
        if "local_disk" in kwargs:
            assert len(disks) == 1
            claim = disks[0]["ephemeral"]["volumeClaimTemplate"]["spec"]
            assert claim["storageClassName"] == "open-local-lvm"
            size = kwargs["local_disk"] if isinstance(kwargs["local_disk"], str) else pt.DEFAULT_LOCAL_DISK_SIZE
            assert claim["resources"]["requests"]["storage"] == size
            assert [m["mountPath"] for m in base["volumeMounts"] if m["name"] == "local-disk"] == ["/scratch"]
        else:
            assert disks == []
        env = {item["name"]: item.get("value") for item in base["env"]}
        assert env["AIRFLOW_KIT_TEAM"] == team
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor,KubernetesExecutor"
        assert base["resources"]["requests"]["memory"] == kwargs.get(
            "memory", template["spec"]["containers"][0]["resources"]["requests"]["memory"])


def test_task_pod_environment_parses_kubernetes_executor_dags(tmp_path):
    templates, files = _render(tmp_path, "koordinator")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "kit_consumer.py").write_text(DAG_FILE)
    pod = yaml.safe_load(files["etl.yaml"])
    template_env = {item["name"]: item["value"] for item in pod["spec"]["containers"][0]["env"] if "value" in item}
    template_env.pop("AIRFLOW_KIT_POD_TEMPLATES_DIR")  # the test's copy of the ConfigMap lives in tmp_path

    parsed = _run(PARSE, [str(dags)], _airflow_env(tmp_path, templates, template_env))
    assert parsed == {"dags": ["kit_consumer"], "errors": {}}

    # What the chart's own template sets: the task pod would not find its own DAG.
    chart_env = {**template_env, "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    parsed = _run(PARSE, [str(dags)], _airflow_env(tmp_path, templates, chart_env))
    assert parsed["dags"] == []
    assert "UnknownExecutorException" in " ".join(parsed["errors"].values())


PLAIN = textwrap.dedent("""
    import json, sys
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    base = PodGenerator.deserialize_model_file(sys.argv[1])
    images = {}
    for kube_image in ("AIRFLOW_IMAGE", None):
        pod = PodGenerator.construct_pod(
            dag_id="d", task_id="t", pod_id="d-t", try_number=1, kube_image=kube_image, date=None,
            args=["python"], pod_override_object=None, base_worker_pod=base, namespace="ns",
            scheduler_job_id="1")
        images[str(kube_image)] = pod.spec.containers[0].image
    print(json.dumps(images))
""").replace("AIRFLOW_IMAGE", AIRFLOW_IMAGE)


def test_executor_image_setting_beats_the_template_image(tmp_path):
    """A KubernetesExecutor task WITHOUT an image override runs `[kubernetes_executor]
    worker_container_repository:tag` when both are set (the chart sets them to the Airflow image),
    and the template's (team's fused) image only when they are empty."""
    templates, files = _render(tmp_path, "default")
    images = _run(PLAIN, [str(templates / "etl.yaml")], _airflow_env(tmp_path, templates))
    assert images == {AIRFLOW_IMAGE: AIRFLOW_IMAGE,
                      "None": "registry.example.com/etl/airflow-worker:2.3.1"}
